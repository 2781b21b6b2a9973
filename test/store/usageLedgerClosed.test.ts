/**
 * Events of a counter the renewal has closed (store/usageLedger.ts): the events' INSERT goes out
 * beside the counter lock, before `closed` is read, so such an event is inserted and deleted
 * again. Its key then answers the same way wherever it comes again in the batch, and nothing of
 * it is stored.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCustomer } from '../../store/customerStore.js';
import { recordUsage, type LedgerEvent } from '../../store/usageLedger.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { openLedgerDatabase, type LedgerDatabase } from '../harness/ledgerDatabase.js';

const USAGE_METRICS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/usage-metrics.json');
const CUSTOMER = 'closed-counter';
let ledger: LedgerDatabase;

beforeAll(async () => {
  ledger = await openLedgerDatabase(USAGE_METRICS);
  await insertCustomer(ledger.database.db, { id: CUSTOMER, name: 'Closed', email: 'closed@test' },
    newSubscriptionInput({ catalog: ledger.catalog, customerId: CUSTOMER, planId: 'free', interval: 'monthly', seats: 1, now: Date.now() }));
});
afterAll(() => ledger?.close());

const event = (metric: string, idempotencyKey: string): LedgerEvent => ({ group: 0, customerId: CUSTOMER, metric, quantity: 1n, idempotencyKey, occurredAt: Date.now() });

describe('a closed counter', () => {
  it('refuses its events, with the same answer for the same key elsewhere in the batch, and stores none', async () => {
    expect(await recordUsage(ledger.pool, ledger.catalog, [event('monthly_active_users', 'a'), event('storage_gb', 'b')]))
      .toMatchObject([{ status: 'counted', used: 1n }, { status: 'counted', used: 1n }]);
    await ledger.pool.query("UPDATE usage_counters SET closed = true WHERE customer_id = $1 AND metric = 'storage_gb'", [CUSTOMER]);

    const outcomes = await recordUsage(ledger.pool, ledger.catalog, [
      event('storage_gb', 'k'),
      event('monthly_active_users', 'k'),
      event('monthly_active_users', 'j'),
      event('storage_gb', 'b'),
    ]);
    expect(outcomes).toMatchObject([
      { status: 'rejected', code: 'period_closed' },
      { status: 'rejected', code: 'period_closed' },
      { status: 'counted', used: 2n },
      { status: 'rejected', code: 'period_closed' },
    ]);
    const { rows } = await ledger.pool.query<{ idempotency_key: string; metric: string }>('SELECT idempotency_key, metric FROM usage_events WHERE customer_id = $1 ORDER BY idempotency_key', [CUSTOMER]);
    expect(rows).toEqual([{ idempotency_key: 'a', metric: 'monthly_active_users' }, { idempotency_key: 'b', metric: 'storage_gb' }, { idempotency_key: 'j', metric: 'monthly_active_users' }]);
    const counters = await ledger.pool.query<{ metric: string; used: string }>('SELECT metric, used::text FROM usage_counters WHERE customer_id = $1 ORDER BY metric', [CUSTOMER]);
    expect(counters.rows).toEqual([{ metric: 'monthly_active_users', used: '2' }, { metric: 'storage_gb', used: '1' }]);
  });
});
