/**
 * Undoing an import whose workflows could not start (store/customerImport.ts): customers with
 * usage recorded through the API meanwhile are kept (usage_events has no foreign key to hold
 * them, migration 20261129090000), the others go, with their counters and subscriptions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteImportedCustomers, insertImportedCustomers } from '../../store/customerImport.js';
import { recordUsage } from '../../store/usageLedger.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { openLedgerDatabase, type LedgerDatabase } from '../harness/ledgerDatabase.js';

let ledger: LedgerDatabase;

beforeAll(async () => {
  ledger = await openLedgerDatabase();
});
afterAll(() => ledger?.close());

describe('undoing an import', () => {
  it('keeps a customer whose usage was recorded meanwhile and removes the others whole', async () => {
    const now = Date.now();
    const imported = ['undo-used', 'undo-quiet'].map((id) => ({
      customer: { id, name: id, email: `${id}@test` },
      input: newSubscriptionInput({ catalog: ledger.catalog, customerId: id, planId: 'pro', interval: 'monthly' as const, seats: 1, now }),
      usage: [{ metric: 'api_calls', used: 500n }],
    }));
    const inserted = await insertImportedCustomers(ledger.database.db, imported);
    expect([...inserted.values()].every((o) => o.status === 'inserted')).toBe(true);

    const [outcome] = await recordUsage(ledger.pool, ledger.catalog, [{ group: 0, customerId: 'undo-used', metric: 'api_calls', quantity: 7n, idempotencyKey: 'undo-1', occurredAt: now }]);
    expect(outcome).toMatchObject({ status: 'counted', used: 507n });

    const removed = await deleteImportedCustomers(ledger.database.db, ['undo-used', 'undo-quiet']);
    expect([...removed]).toEqual(['undo-quiet']);

    const count = async (table: string, id: string) =>
      Number((await ledger.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${table === 'customers' ? 'id' : 'customer_id'} = $1`, [id])).rows[0]!.n);
    for (const table of ['customers', 'subscriptions', 'usage_counters', 'usage_events']) {
      expect({ table, kept: await count(table, 'undo-used') }).toEqual({ table, kept: 1 });
      expect({ table, left: await count(table, 'undo-quiet') }).toEqual({ table, left: 0 });
    }
    // Its customer.created event goes with it; its numbering stays (a customer made again with the
    // id goes on from it), and the kept one's event stays.
    expect(await count('webhook_events', 'undo-used')).toBe(1);
    expect(await count('webhook_events', 'undo-quiet')).toBe(0);
    expect(await count('webhook_sequences', 'undo-quiet')).toBe(1);
    const { rows } = await ledger.pool.query<{ used: string }>("SELECT used::text FROM usage_counters WHERE customer_id = 'undo-used'");
    expect(rows[0]?.used).toBe('507');
  });
});
