/**
 * The usage recorder's grouping (api/usage/usageRecorder.ts) on the real PostgreSQL: a lone
 * request is written at once; while a flush is in flight, a few new requests wait for each other
 * (LINGER_MS) instead of each taking a free slot alone; enough waiting events start a flush at
 * once. The in-flight flush is held by a row lock another connection takes on the counter.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSY_FLUSH_EVENTS, UsageRecorder, type UsageEventInput } from '../../api/usage/usageRecorder.js';
import { insertCustomer } from '../../store/customerStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { openLedgerDatabase, type LedgerDatabase } from '../harness/ledgerDatabase.js';

let ledger: LedgerDatabase;
const CUSTOMER = 'grouping';

beforeAll(async () => {
  ledger = await openLedgerDatabase();
  await insertCustomer(ledger.database.db, { id: CUSTOMER, name: 'Grouping', email: 'grouping@test' },
    newSubscriptionInput({ catalog: ledger.catalog, customerId: CUSTOMER, planId: 'enterprise', interval: 'monthly', seats: 1, now: Date.now() }));
});
afterAll(() => ledger?.close());

/** A recorder with two flush slots that notes each flush as [requests, events]. */
function watchedRecorder(): { recorder: UsageRecorder; flushes: Array<[number, number]> } {
  const flushes: Array<[number, number]> = [];
  const recorder = new UsageRecorder(ledger.pool, () => ledger.catalog, { maxConcurrentFlushes: 2, onFlush: (requests, events) => flushes.push([requests, events]) });
  return { recorder, flushes };
}

/** Runs `body` while another connection holds the customer's counter row locked; `release` commits that lock. */
async function holdingTheCounter(body: (release: () => Promise<unknown>) => Promise<void>): Promise<void> {
  const blocker = new pg.Client({ connectionString: ledger.database.url });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT used FROM usage_counters WHERE customer_id = $1 FOR UPDATE', [CUSTOMER]);
    await body(() => blocker.query('COMMIT'));
  } finally {
    await blocker.end();
  }
}

let seq = 0;
const event = (): UsageEventInput => ({ customerId: CUSTOMER, metric: 'api_calls', quantity: 1n, idempotencyKey: `g-${seq++}`, occurredAt: Date.now() });

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

describe('the usage recorder groups requests', () => {
  it('writes a lone request at once, and groups the few that arrive while a flush is in flight', async () => {
    const { recorder, flushes } = watchedRecorder();

    // Alone: the flush starts in the same turn as the request.
    const lone = recorder.record([event()]);
    expect(flushes).toEqual([[1, 1]]);
    expect((await lone)[0]).toMatchObject({ status: 'counted', used: 1n });

    await holdingTheCounter(async (release) => {
      const held = recorder.record([event()]);
      expect(flushes).toHaveLength(2);
      // A slot is free, but two single events must not each take one: they wait and go together.
      const b = recorder.record([event()]);
      const c = recorder.record([event()]);
      expect(flushes).toHaveLength(2);
      await waitFor(() => flushes.length === 3);
      expect(flushes[2]).toEqual([2, 2]);

      // Both slots are taken now: the next flush starts when one frees (once the lock is released).
      const many = recorder.record(Array.from({ length: BUSY_FLUSH_EVENTS }, event));
      expect(flushes).toHaveLength(3);
      await release();
      const outcomes = [...await held, ...await b, ...await c, ...await many];
      expect(outcomes.every((o) => o.status === 'counted')).toBe(true);
      expect(flushes[3]).toEqual([1, BUSY_FLUSH_EVENTS]);
    });
    const { rows } = await ledger.pool.query<{ used: string }>('SELECT used::text FROM usage_counters WHERE customer_id = $1', [CUSTOMER]);
    expect(rows[0]?.used).toBe(String(4 + BUSY_FLUSH_EVENTS));
  });

  it('starts a flush at once for enough waiting events while another is in flight', async () => {
    const { recorder, flushes } = watchedRecorder();
    await holdingTheCounter(async (release) => {
      const held = recorder.record([event()]);
      const many = recorder.record(Array.from({ length: BUSY_FLUSH_EVENTS }, event));
      // No wait: the second slot takes the batch in the same turn.
      expect(flushes).toEqual([[1, 1], [1, BUSY_FLUSH_EVENTS]]);
      await release();
      expect([...await held, ...await many].every((o) => o.status === 'counted')).toBe(true);
    });
  });
});
