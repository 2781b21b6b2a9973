/**
 * Racing usage on the plain policies (reject and bill) against the real PostgreSQL: many
 * concurrent recordUsage calls on a few customers near their limits (single events and batches,
 * the same keys within and across batches, counters that exist or not yet), sometimes with the
 * renewal's cycle close racing them. Whatever the interleaving, the ledger's identities hold
 * afterwards:
 * - a counter holds exactly the stored events' quantities, and never more than a reject limit;
 * - the stored events are exactly the keys answered `counted`, each counted once;
 * - a refusal was right when given (its `used` plus the quantity is past the limit);
 * - the 80%/100% alerts in the outbox are exactly the thresholds the counter crossed, once each;
 * - with the close racing: the closed counter holds every event answered `counted` and nothing
 *   answered `period_closed` was stored.
 */
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../billing/catalog.js';
import { crossedThresholds } from '../../billing/usage.js';
import { DEFAULT_CATALOG_PATH } from '../../config/loadCatalog.js';
import { closeCycle } from '../../store/cycleClose.js';
import { insertCustomer } from '../../store/customerStore.js';
import { recordUsage, type EventOutcome, type LedgerEvent } from '../../store/usageLedger.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { TestDatabase } from '../harness/database.js';
import { openLedgerDatabase, type LedgerDatabase } from '../harness/ledgerDatabase.js';

const DAY = 86_400_000;
const METRIC = 'api_calls';
const INCLUDED = { free: 1_000n, basic: 30_000n, enterprise: 1_000_000n } as const;
type PlanId = keyof typeof INCLUDED;

let database: TestDatabase;
let pool: pg.Pool;
let catalog: Catalog;

let ledger: LedgerDatabase | undefined;

beforeAll(async () => {
  ledger = await openLedgerDatabase(DEFAULT_CATALOG_PATH);
  ({ database, pool, catalog } = ledger);
});
afterAll(() => ledger?.close());

let customers = 0;
async function newCustomer(plan: PlanId): Promise<{ customerId: string; cycleStart: number; cycleEnd: number; now: number }> {
  const customerId = `plain-${process.pid}-${++customers}`;
  const now = Date.now();
  const input = newSubscriptionInput({ catalog, customerId, planId: plan, interval: 'monthly', seats: 1, importedPeriodStart: now - 3 * DAY, now });
  await insertCustomer(database.db, { id: customerId, name: 'Race Co', email: `${customerId}@example.test` }, input);
  const { rows } = await pool.query<{ cycle_start: Date; cycle_end: Date }>('SELECT cycle_start, cycle_end FROM subscriptions WHERE customer_id = $1', [customerId]);
  return { customerId, cycleStart: rows[0]!.cycle_start.getTime(), cycleEnd: rows[0]!.cycle_end.getTime(), now };
}

const customerArb = fc.record({
  plan: fc.constantFrom<PlanId>('free', 'basic', 'enterprise'),
  /** Where the counter starts relative to the limit (none: no counter row yet). */
  seed: fc.option(fc.integer({ min: -300, max: 0 }), { nil: undefined }),
});
const caseArb = fc.integer({ min: 4, max: 60 }).chain((poolSize) => fc.record({
  customers: fc.array(customerArb, { minLength: 1, maxLength: 3 }),
  events: fc.array(fc.record({ customer: fc.nat({ max: 2 }), quantity: fc.integer({ min: 1, max: 90 }) }), { minLength: poolSize, maxLength: poolSize }),
  /** Each batch names events of the pool by index: a repeat is the same event sent again. */
  batches: fc.array(fc.oneof(fc.nat({ max: poolSize - 1 }).map((i) => [i]), fc.array(fc.nat({ max: poolSize - 1 }), { minLength: 2, maxLength: 20 })), { minLength: 6, maxLength: 16 }),
  /** Close the first customer's cycle in the middle of the race (after this many batches started). */
  closeAfter: fc.option(fc.nat({ max: 15 }), { nil: undefined }),
}));

describe('racing usage on reject and bill limits', () => {
  it('counters, stored events, answers and alerts agree', async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const made = await Promise.all(c.customers.map(async (spec) => ({ spec, ...(await newCustomer(spec.plan)) })));
      for (const m of made) {
        const start = m.spec.seed === undefined ? 0n : INCLUDED[m.spec.plan] + BigInt(m.spec.seed);
        if (m.spec.seed !== undefined && start > 0n) {
          const [outcome] = await recordUsage(pool, catalog, [{ group: 0, customerId: m.customerId, metric: METRIC, quantity: start, idempotencyKey: 'seed', occurredAt: m.now }]);
          expect(outcome!.status).toBe('counted');
        }
      }
      const eventOf = (i: number): LedgerEvent => {
        const e = c.events[i]!;
        const m = made[e.customer % made.length]!;
        return { group: 0, customerId: m.customerId, metric: METRIC, quantity: BigInt(e.quantity), idempotencyKey: `k${i}`, occurredAt: m.now };
      };
      const batches = c.batches.map((indexes) => indexes.map((i, n) => ({ ...eventOf(i), group: n })));

      const closing = made[0]!;
      const calls: Array<Promise<EventOutcome[] | Map<string, bigint>>> = [];
      let closed: Promise<Map<string, bigint>> | undefined;
      batches.forEach((batch, n) => {
        if (c.closeAfter === n) {
          closed = database.db.$transaction((tx) => closeCycle(tx, { customerId: closing.customerId, metrics: [METRIC], cycleStart: closing.cycleStart, cycleEnd: closing.cycleEnd }));
          calls.push(closed);
        }
        calls.push(recordUsage(pool, catalog, batch));
      });
      const settled = await Promise.allSettled(calls);
      expect(settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
      const outcomes = settled.map((s) => (s as PromiseFulfilledResult<EventOutcome[] | Map<string, bigint>>).value).filter((v): v is EventOutcome[] => Array.isArray(v));

      for (const m of made) {
        const included = INCLUDED[m.spec.plan];
        const reject = m.spec.plan !== 'enterprise';
        const [counter, events, alerts] = await Promise.all([
          pool.query<{ used: string; closed: boolean }>('SELECT used::text, closed FROM usage_counters WHERE customer_id = $1 AND metric = $2 AND cycle_start = $3', [m.customerId, METRIC, new Date(m.cycleStart)]),
          pool.query<{ idempotency_key: string; quantity: string }>('SELECT idempotency_key, quantity::text FROM usage_events WHERE customer_id = $1', [m.customerId]),
          pool.query<{ threshold: number }>('SELECT threshold FROM usage_alerts WHERE customer_id = $1 ORDER BY threshold', [m.customerId]),
        ]);
        const used = BigInt(counter.rows[0]?.used ?? '0');
        const stored = new Map(events.rows.map((r) => [r.idempotency_key, BigInt(r.quantity)]));
        expect(used, 'the counter holds exactly the stored events').toBe([...stored.values()].reduce((a, b) => a + b, 0n));
        if (reject) expect(used <= included, 'never past a reject limit').toBe(true);

        const counted = new Map<string, number>();
        batches.forEach((batch, n) => batch.forEach((event, i) => {
          if (event.customerId !== m.customerId) return;
          const outcome = outcomes[n]![i]!;
          if (outcome.status === 'counted') {
            counted.set(event.idempotencyKey, (counted.get(event.idempotencyKey) ?? 0) + 1);
            expect(outcome.used <= used && outcome.used >= event.quantity).toBe(true);
          }
          if (outcome.status === 'refused') {
            expect(reject).toBe(true);
            expect(outcome.used + event.quantity > included, `refused ${event.idempotencyKey} at ${outcome.used} + ${event.quantity} of ${included}`).toBe(true);
          }
          if (outcome.status === 'rejected') expect(outcome.code).toBe('period_closed');
        }));
        expect([...counted.values()].every((n) => n === 1), 'each key counted once').toBe(true);
        const storedKeys = [...stored.keys()].filter((k) => k !== 'seed').sort();
        expect(storedKeys, 'stored events are exactly the counted keys').toEqual([...counted.keys()].sort());

        expect(alerts.rows.map((r) => r.threshold), 'alerts: the thresholds crossed, once each').toEqual(crossedThresholds(0n, used, included));
        if (m === closing && closed) {
          expect(counter.rows[0]!.closed).toBe(true);
          expect((await closed).get(METRIC), 'the close saw every counted event').toBe(used);
        }
      }
    }), { numRuns: 40, seed: 20261126 });
  });
});
