/**
 * Racing events on one customer with a small balance (issue 10): the balance never goes below
 * zero, and every event is either counted with its credits or refused. Many concurrent
 * recordUsage calls (single events and batches, duplicate keys within and across batches, a
 * tiered metric near its tier boundary) against the real PostgreSQL, then the ledger identities:
 * what left the balance is exactly the consumption recorded (credit_consumption and the counters' latest days), the units paid are exactly
 * the units past the included quantity, and exactly the counted events are in usage_events.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../billing/catalog.js';
import { CONSUMPTION_ROWS_OF_CUSTOMERS } from '../../store/creditLedger.js';
import { grantCredits } from '../../store/creditStore.js';
import { insertCustomer } from '../../store/customerStore.js';
import { recordUsage, type EventOutcome, type LedgerEvent } from '../../store/usageLedger.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { TestDatabase } from '../harness/database.js';
import { openLedgerDatabase, type LedgerDatabase } from '../harness/ledgerDatabase.js';

const USAGE_METRICS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/usage-metrics.json');
const DAY = 86_400_000;
const UNIT = 'USD';

let database: TestDatabase;
let pool: pg.Pool;
let catalog: Catalog;

let ledger: LedgerDatabase | undefined;

beforeAll(async () => {
  ledger = await openLedgerDatabase(USAGE_METRICS);
  ({ database, pool, catalog } = ledger);
});
afterAll(() => ledger?.close());

/**
 * The Starter plan of config/examples/usage-metrics.json, restated here (not read from the
 * pricing code) so the expected credits are computed independently: included quantity, and
 * graduated prices in credit nanos over the units past it ([upTo, price], upTo in units past).
 */
const PLAN = 'starter';
const METRICS = {
  monthly_active_users: { included: 10_000n, tiers: [[undefined, 20_000_000n]] },
  build_minutes: { included: 1_000n, tiers: [[10_000n, 8_000_000n], [undefined, 6_000_000n]] },
  storage_gb: { included: 50n, tiers: [[undefined, 100_000_000n]] },
} as const satisfies Record<string, { included: bigint; tiers: ReadonlyArray<readonly [bigint | undefined, bigint]> }>;
type Metric = keyof typeof METRICS;
const METRIC_IDS = Object.keys(METRICS) as Metric[];

/** Credits for the units past the limit numbered [from, to), graduated over the metric's tiers. */
function costOf(metric: Metric, from: bigint, to: bigint): bigint {
  let cost = 0n;
  let floor = 0n;
  for (const [upTo, price] of METRICS[metric].tiers) {
    const lo = from > floor ? from : floor;
    const hi = upTo === undefined || to < upTo ? to : upTo;
    if (hi > lo) cost += (hi - lo) * price;
    if (upTo === undefined) break;
    floor = upTo;
  }
  return cost;
}
const over = (metric: Metric, used: bigint) => (used > METRICS[metric].included ? used - METRICS[metric].included : 0n);

let customers = 0;
/** A fresh customer on Starter whose cycle began three days ago (so events may fall on three UTC days). */
async function newCustomer(prefix: string): Promise<{ customerId: string; now: number }> {
  const customerId = `${prefix}-${process.pid}-${++customers}`;
  const now = Date.now();
  await insertCustomer(database.db, { id: customerId, name: 'Race Co', email: `${customerId}@example.test` },
    newSubscriptionInput({ catalog, customerId, planId: PLAN, interval: 'monthly', seats: 1, importedPeriodStart: now - 3 * DAY, now }));
  return { customerId, now };
}

async function grant(customerId: string, creditsNanos: bigint, reference: string): Promise<void> {
  if (creditsNanos === 0n) return;
  await database.db.$transaction((tx) => grantCredits(tx, { customerId, unit: UNIT, kind: 'grant', creditsNanos, reference, grantType: 'manual', reason: 'race test' }));
}

interface LedgerState {
  balance: bigint;
  crossings: number;
  used: Map<string, bigint>;
  consumption: Map<string, { quantity: bigint; credits: bigint; events: bigint }>;
  events: Map<string, { metric: string; quantity: bigint }>;
  alerts: Array<{ kind: string; crossing: number }>;
}

async function ledgerState(customerId: string): Promise<LedgerState> {
  const [account, counters, consumption, events, alerts] = await Promise.all([
    pool.query<{ balance: string; crossings: number }>('SELECT balance_nanos::text AS balance, crossings FROM credit_accounts WHERE customer_id = $1 AND unit = $2', [customerId, UNIT]),
    pool.query<{ metric: string; used: string }>('SELECT metric, used::text FROM usage_counters WHERE customer_id = $1', [customerId]),
    pool.query<{ metric: string; quantity: string; credits: string; events: string }>(
      `SELECT metric, sum(quantity)::text AS quantity, sum(credits_nanos)::text AS credits, sum(events)::text AS events FROM ${CONSUMPTION_ROWS_OF_CUSTOMERS} c GROUP BY metric`,
      [[customerId], UNIT]),
    pool.query<{ idempotency_key: string; metric: string; quantity: string }>('SELECT idempotency_key, metric, quantity::text FROM usage_events WHERE customer_id = $1', [customerId]),
    pool.query<{ kind: string; crossing: number }>('SELECT kind, crossing FROM credit_alerts WHERE customer_id = $1 AND unit = $2 ORDER BY crossing', [customerId, UNIT]),
  ]);
  return {
    balance: BigInt(account.rows[0]?.balance ?? '0'),
    crossings: account.rows[0]?.crossings ?? 0,
    used: new Map(counters.rows.map((r) => [r.metric, BigInt(r.used)])),
    consumption: new Map(consumption.rows.map((r) => [r.metric, { quantity: BigInt(r.quantity), credits: BigInt(r.credits), events: BigInt(r.events) }])),
    events: new Map(events.rows.map((r) => [r.idempotency_key, { metric: r.metric, quantity: BigInt(r.quantity) }])),
    alerts: alerts.rows,
  };
}

/** Runs every batch at once; fails with every error a batch threw (the balance CHECK constraint, a deadlock). */
async function race(batches: LedgerEvent[][]): Promise<EventOutcome[][]> {
  const settled = await Promise.allSettled(batches.map((batch) => recordUsage(pool, catalog, batch)));
  const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error)?.message ?? s.reason)] : []));
  expect(errors, 'no batch may fail (a negative balance would trip credit_accounts_balance_check)').toEqual([]);
  return settled.map((s) => (s as PromiseFulfilledResult<EventOutcome[]>).value);
}

const eventArb = fc.record({
  metric: fc.constantFrom(...METRIC_IDS),
  quantity: fc.integer({ min: 1, max: 25 }),
  dayOffset: fc.integer({ min: 0, max: 2 }),
});
/** A batch names events of the pool by index: repeats within and across batches are the same event sent again. */
const batchArb = (poolSize: number) => fc.oneof(
  fc.nat({ max: poolSize - 1 }).map((i) => [i]),
  fc.array(fc.nat({ max: poolSize - 1 }), { minLength: 2, maxLength: 20 }),
);
const caseArb = fc.integer({ min: 4, max: 70 }).chain((poolSize) => fc.record({
  events: fc.array(eventArb, { minLength: poolSize, maxLength: poolSize }),
  batches: fc.array(batchArb(poolSize), { minLength: 8, maxLength: 16 }),
  /** The balance left once the counters are seeded: 0 to 1.50 USD, whole cents or any nanos. */
  balance: fc.oneof(fc.integer({ min: 0, max: 150 }).map((cents) => BigInt(cents) * 10_000_000n), fc.bigInt({ min: 0n, max: 1_500_000_000n })),
  /** Where each counter starts, relative to its included quantity (units past it when positive). */
  seed: fc.record({
    monthly_active_users: fc.integer({ min: -40, max: 5 }),
    // Around the limit, or just under the 10,000-units-past tier boundary (0.008 → 0.006).
    build_minutes: fc.oneof(fc.integer({ min: -40, max: 5 }), fc.integer({ min: 9_940, max: 10_003 })),
    storage_gb: fc.integer({ min: -10, max: 2 }),
  }),
}));

describe('racing events on one customer with a small balance', () => {
  it('never goes below zero; every event is counted with its credits or refused (insufficient_credits)', async () => {
    let runs = 0;
    await fc.assert(fc.asyncProperty(caseArb, async ({ events, batches, balance, seed }) => {
      runs += 1;
      const { customerId, now } = await newCustomer('race');

      // Seed the counters at (or past) their included quantity, paying for any units past it.
      const seedUsed = new Map(METRIC_IDS.map((m) => [m, METRICS[m].included + BigInt(seed[m])] as const));
      const seedCost = METRIC_IDS.reduce((sum, m) => sum + costOf(m, 0n, over(m, seedUsed.get(m)!)), 0n);
      await grant(customerId, seedCost + balance, `grant:seed:${customerId}`);
      const seeded = await recordUsage(pool, catalog, METRIC_IDS.map((metric, i) => ({
        group: i, customerId, metric, quantity: seedUsed.get(metric)!, idempotencyKey: `seed-${metric}`, occurredAt: now - 3 * DAY + 1000,
      })));
      expect(seeded.map((o) => o.status)).toEqual(METRIC_IDS.map(() => 'counted'));
      const start = await ledgerState(customerId);
      expect(start.balance).toBe(balance);

      // The race.
      const keyOf = (i: number) => `e${i}`;
      const eventOf = (i: number): LedgerEvent => ({
        group: i, customerId, metric: events[i]!.metric, quantity: BigInt(events[i]!.quantity), idempotencyKey: keyOf(i), occurredAt: now - events[i]!.dayOffset * DAY,
      });
      const sent = batches.map((batch) => batch.map(eventOf));
      const outcomes = await race(sent);
      const end = await ledgerState(customerId);

      // Every answer is counted, duplicate, or refused for want of credits.
      const answers = new Map<string, string[]>();
      sent.forEach((batch, b) => {
        expect(outcomes[b]).toHaveLength(batch.length);
        batch.forEach((event, i) => {
          const outcome = outcomes[b]![i]!;
          const answer = outcome.status === 'refused' ? `refused:${outcome.code}` : outcome.status;
          expect(['counted', 'duplicate', 'refused:insufficient_credits'], `${event.idempotencyKey} answered ${JSON.stringify(outcome, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`).toContain(answer);
          answers.set(event.idempotencyKey, [...(answers.get(event.idempotencyKey) ?? []), answer]);
        });
      });

      // Each key counted at most once; a duplicate answer only for a key counted elsewhere.
      const counted = new Set<string>();
      for (const [key, list] of answers) {
        const times = list.filter((a) => a === 'counted').length;
        expect(times, `${key}: ${list.join(', ')}`).toBeLessThanOrEqual(1);
        if (list.includes('duplicate')) expect(times, `${key}: ${list.join(', ')}`).toBe(1);
        if (times === 1) counted.add(key);
      }

      // The counted answers report the counter after each event: per metric they chain from the
      // seed to the final counter, one event after another (no two counted on the same state).
      for (const metric of METRIC_IDS) {
        const steps = sent.flatMap((batch, b) => batch.flatMap((event, i) => {
          const outcome = outcomes[b]![i]!;
          return outcome.status === 'counted' && event.metric === metric ? [{ used: outcome.used, quantity: event.quantity }] : [];
        })).sort((x, y) => (x.used < y.used ? -1 : x.used > y.used ? 1 : 0));
        let at = seedUsed.get(metric)!;
        let drawing = 0n;
        for (const step of steps) {
          expect(step.used - step.quantity, `${metric}: a counted event's answer does not follow the one before`).toBe(at);
          if (over(metric, step.used) > over(metric, at)) drawing += 1n;
          at = step.used;
        }
        // One consumption event per counted event that drew credits (the seed drew at most one).
        const seedEvents = over(metric, seedUsed.get(metric)!) > 0n ? 1n : 0n;
        expect(end.consumption.get(metric)?.events ?? 0n, `${metric}: events paid with credits`).toBe(seedEvents + drawing);
      }

      // Exactly the counted events are recorded (refused-only keys are not), with their quantities.
      const recorded = [...end.events.keys()].filter((k) => !k.startsWith('seed-')).sort();
      expect(recorded).toEqual([...counted].sort());
      for (const key of counted) {
        const event = eventOf(Number(key.slice(1)));
        expect(end.events.get(key)).toEqual({ metric: event.metric, quantity: event.quantity });
      }

      // Counted quantities sum to the counters; every unit past the included quantity was paid, at its price.
      let drawn = 0n;
      for (const metric of METRIC_IDS) {
        const countedQuantity = [...counted].map((k) => eventOf(Number(k.slice(1)))).filter((e) => e.metric === metric).reduce((s, e) => s + e.quantity, 0n);
        const used = end.used.get(metric)!;
        expect(used - seedUsed.get(metric)!, metric).toBe(countedQuantity);
        const paid = end.consumption.get(metric) ?? { quantity: 0n, credits: 0n, events: 0n };
        expect(paid.quantity, `${metric}: units paid with credits`).toBe(over(metric, used));
        // Units past the limit tile [0, over) whatever order the events took, so the graduated
        // price of the whole is the sum of the events' draws.
        expect(paid.credits, `${metric}: credits drawn`).toBe(costOf(metric, 0n, over(metric, used)));
        drawn += paid.credits - (start.consumption.get(metric)?.credits ?? 0n);
      }

      // The balance: never negative, and down by exactly what consumption recorded.
      expect(end.balance >= 0n).toBe(true);
      expect(start.balance - end.balance).toBe(drawn);

      // A refused event (never counted) of a flat-priced metric could not be paid even at the end:
      // its price only grew (or stayed) as the counter rose, and the balance only fell.
      const refusals = [...answers].filter(([, list]) => list.includes('refused:insufficient_credits'));
      for (const [key] of refusals) {
        if (counted.has(key)) continue;
        const event = eventOf(Number(key.slice(1)));
        const metric = event.metric as Metric;
        if (METRICS[metric].tiers.length !== 1) continue;
        const used = end.used.get(metric)!;
        const cost = costOf(metric, over(metric, used), over(metric, used + event.quantity));
        expect(cost > end.balance, `${key} (${metric} ×${event.quantity}) refused, yet ${cost} ≤ balance ${end.balance}`).toBe(true);
      }

      // Alerts: one per crossing, numbered 1..n; at most one 'low' and one 'exhausted' without a grant between.
      expect(end.alerts.map((a) => a.crossing)).toEqual(end.alerts.map((_, i) => i + 1));
      expect(end.crossings).toBe(end.alerts.length);
      const kinds = end.alerts.map((a) => a.kind);
      expect(kinds.filter((k) => k === 'low').length).toBeLessThanOrEqual(1);
      const ranOut = refusals.length > 0 || (end.balance === 0n && (drawn > 0n || seedCost > 0n));
      expect(kinds.filter((k) => k === 'exhausted').length, `refusals ${refusals.length}, balance ${end.balance}`).toBe(ranOut ? 1 : 0);
    }), { numRuns: 20, endOnFailure: false });
    expect(runs).toBeGreaterThanOrEqual(20);
  });

  it('a balance exactly enough for N events: 3N racing single-event calls count N and refuse 2N', async () => {
    const N = 6;
    const quantity = 5n; // 5 users past the plan at 0.02 = 0.10 USD each
    const perEvent = quantity * METRICS.monthly_active_users.tiers[0][1];
    const { customerId, now } = await newCustomer('exact');
    await grant(customerId, perEvent * BigInt(N), `grant:exact:${customerId}`);
    const metric: Metric = 'monthly_active_users';
    const seeded = await recordUsage(pool, catalog, [{ group: 0, customerId, metric, quantity: METRICS[metric].included, idempotencyKey: 'seed', occurredAt: now }]);
    expect(seeded[0]!.status).toBe('counted');

    const outcomes = (await race(Array.from({ length: 3 * N }, (_, i) => [{ group: 0, customerId, metric, quantity, idempotencyKey: `x${i}`, occurredAt: now }]))).map((o) => o[0]!);
    const statuses = outcomes.map((o) => (o.status === 'refused' ? `refused:${o.code}` : o.status));
    expect(statuses.filter((s) => s === 'counted')).toHaveLength(N);
    expect(statuses.filter((s) => s === 'refused:insufficient_credits')).toHaveLength(2 * N);

    const end = await ledgerState(customerId);
    expect(end.balance).toBe(0n);
    expect(end.used.get(metric)).toBe(METRICS[metric].included + quantity * BigInt(N));
    expect(end.consumption.get(metric)).toEqual({ quantity: quantity * BigInt(N), credits: perEvent * BigInt(N), events: BigInt(N) });
    const countedKeys = outcomes.flatMap((o, i) => (o.status === 'counted' ? [`x${i}`] : []));
    expect([...end.events.keys()].filter((k) => k !== 'seed').sort()).toEqual(countedKeys.sort());
    const kinds = end.alerts.map((a) => a.kind);
    expect(kinds.filter((k) => k === 'exhausted')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'low').length).toBeLessThanOrEqual(1);
    // The counted events' answers report the counter after each: N distinct steps of `quantity`.
    const usedAfter = outcomes.filter((o) => o.status === 'counted').map((o) => (o as { used: bigint }).used).sort((a, b) => (a < b ? -1 : 1));
    expect(usedAfter).toEqual(Array.from({ length: N }, (_, i) => METRICS[metric].included + quantity * BigInt(i + 1)));
  });
});
