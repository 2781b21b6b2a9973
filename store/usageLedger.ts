/**
 * The usage ledger on PostgreSQL: the hot path. One call records a batch of events (from one or
 * many API requests, see api/usage/usageRecorder.ts) in ONE transaction: idempotent event inserts,
 * counter updates and threshold-crossing outbox rows commit together. Plain SQL over node-postgres
 * (not Prisma): this path runs thousands of times a second and every round trip counts.
 *
 * Locking: the counters a batch touches are locked first, in a fixed order, so concurrent batches
 * and the renewal (which closes counters) serialize per counter and never deadlock. Events are
 * inserted after the lock and the primary key tells new keys from duplicates, so two requests
 * racing with the same key count it once.
 */
import type pg from 'pg';
import { findPlan, type Catalog, type CreditsPolicy } from '../billing/catalog.js';
import { admits, crossedThresholds, cycleForEvent, type AlertThreshold } from '../billing/usage.js';
import { paymentPolicyOf } from '../billing/paymentPolicy.js';
import { decideUsageCheck, type UsageCheck } from '../billing/usageCheck.js';
import { creditTiers, creditUnitOf, type CreditTiers } from '../billing/creditPricing.js';
import { CREDIT_DAY_COLUMNS, CreditBalanceRaceError, creditAccountsOf, creditWriteError, creditDayOf, drawCredits, NO_CREDIT_DAY, SELECT_ACCOUNTS, SELECT_ACCOUNTS_FOR_UPDATE, writeCountersAndCredits, type CounterCreditDay, type CreditAccountRow, type CreditAccountState, type CreditDayRow, type CreditUse } from './creditLedger.js';
import { StatementPipeline } from './statementPipeline.js';

export interface LedgerEvent {
  /** Events of one group (one API request) are all recorded or, for an unknown customer, none. */
  group: number;
  customerId: string;
  metric: string;
  quantity: bigint;
  idempotencyKey: string;
  occurredAt: number;
}

export type EventOutcome =
  | { status: 'counted' | 'duplicate'; used: bigint; limit: bigint; policy: string; cycleStart: number; cycleEnd: number }
  | { status: 'refused'; code: 'usage_limit_reached' | 'insufficient_credits'; used: bigint; limit: bigint; policy: string; cycleStart: number; cycleEnd: number }
  /**
   * customer_not_found: this event's customer does not exist; batch_rejected: another event of the
   * same request names one that does not, so none of the request is recorded; plan_unavailable:
   * the customer's plan is missing from this process's catalog (a catalog edit not yet loaded).
   */
  | { status: 'rejected'; code: 'period_closed' | 'customer_not_found' | 'batch_rejected' | 'plan_unavailable' | 'payment_past_due' };

interface Subscription {
  planId: string;
  /** Usage of a past-due subscription is refused when the catalog says so (billing/paymentPolicy.ts). */
  pastDue: boolean;
  cycleStart: number;
  cycleEnd: number;
}

interface Counter {
  customerId: string;
  metric: string;
  cycleStart: number;
  cycleEnd: number;
  used: bigint;
  before: bigint;
  closed: boolean;
  included: bigint;
  policy: string;
  /** The metric's credits policy, when usage past `included` draws prepaid credits (its tiers parsed once). */
  credits?: CreditsPolicy;
  tiers?: CreditTiers;
  /** Credits drawn through this counter on its latest day (store/creditLedger.ts). */
  creditDay: CounterCreditDay;
}

/** A counter's key in maps: customer, metric and cycle start (also the API's counter notifications, api/usage/counterPublisher.ts). */
export const counterKey = (customerId: string, metric: string, cycleStart: number) => `${customerId}\u0000${metric}\u0000${cycleStart}`;
const eventKey = (customerId: string, key: string) => `${customerId}\u0000${key}`;

async function loadSubscriptions(client: pg.ClientBase, customerIds: string[]): Promise<Map<string, Subscription>> {
  const { rows } = await client.query<{ customer_id: string; plan_id: string; status: string; cycle_start: Date; cycle_end: Date }>({
    name: 'usage-subscriptions',
    text: 'SELECT customer_id, plan_id, status, cycle_start, cycle_end FROM subscriptions WHERE customer_id = ANY($1::text[])',
    values: [customerIds],
  });
  return new Map(rows.map((r) => [r.customer_id, { planId: r.plan_id, pastDue: r.status === 'past_due', cycleStart: r.cycle_start.getTime(), cycleEnd: r.cycle_end.getTime() }]));
}

/**
 * Records events in one transaction; returns one outcome per event, in order. The hot path's
 * statements are named (prepared once per connection), so PostgreSQL plans each once, not per
 * flush. A credit balance that changed under an unlocked read (CreditBalanceRaceError) makes the
 * transaction run once more, with the balances locked.
 */
export async function recordUsage(pool: pg.Pool, catalog: Catalog, events: readonly LedgerEvent[]): Promise<EventOutcome[]> {
  const client = await pool.connect();
  try {
    for (let lockBalances = false; ; lockBalances = true) {
      try {
        // Begins and commits the transaction itself: on a pipelining connection BEGIN and COMMIT
        // ride with the statements beside them.
        return await recordInTransaction(client, catalog, events, { lockBalances });
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (error instanceof CreditBalanceRaceError && !lockBalances) continue;
        throw error;
      }
    }
  } finally {
    client.release();
  }
}

interface RecordOptions {
  /** Lock the credit balances drawn from (the second try after CreditBalanceRaceError). */
  lockBalances: boolean;
}

async function recordInTransaction(client: pg.ClientBase, catalog: Catalog, events: readonly LedgerEvent[], options: RecordOptions): Promise<EventOutcome[]> {
  const pipeline = new StatementPipeline(client);
  try {
    return await recordSteps(client, catalog, events, options, pipeline);
  } catch (error) {
    // Whatever failed (a statement, or this code between statements), nothing is sent after it
    // and the caller's ROLLBACK and release come after every answer.
    await pipeline.abandon();
    throw error;
  }
}

async function recordSteps(client: pg.ClientBase, catalog: Catalog, events: readonly LedgerEvent[], options: RecordOptions, pipeline: StatementPipeline): Promise<EventOutcome[]> {
  pipeline.send(() => client.query('BEGIN'));
  const loaded = pipeline.send(() => loadSubscriptions(client, [...new Set(events.map((e) => e.customerId))]));
  await pipeline.all();
  const subscriptions = await loaded;
  const outcomes: Array<EventOutcome | undefined> = new Array(events.length);
  const counters = new Map<string, Counter>();
  const cycleOf: Array<{ start: number; end: number } | undefined> = new Array(events.length);

  const failedGroups = new Set(events.filter((e) => !subscriptions.has(e.customerId)).map((e) => e.group));
  const refusesWhilePastDue = paymentPolicyOf(catalog).usageWhilePastDue === 'refuse';
  events.forEach((event, i) => {
    const subscription = subscriptions.get(event.customerId);
    if (!subscription || failedGroups.has(event.group)) {
      outcomes[i] = { status: 'rejected', code: subscription ? 'batch_rejected' : 'customer_not_found' };
      return;
    }
    const plan = findPlan(catalog, subscription.planId);
    if (!plan) {
      outcomes[i] = { status: 'rejected', code: 'plan_unavailable' };
      return;
    }
    if (subscription.pastDue && refusesWhilePastDue) {
      outcomes[i] = { status: 'rejected', code: 'payment_past_due' };
      return;
    }
    const cycle = cycleForEvent(event.occurredAt, { start: subscription.cycleStart, end: subscription.cycleEnd });
    if (cycle === 'closed') {
      outcomes[i] = { status: 'rejected', code: 'period_closed' };
      return;
    }
    cycleOf[i] = cycle;
    const key = counterKey(event.customerId, event.metric, cycle.start);
    if (!counters.has(key)) {
      const limit = plan.limits[event.metric];
      counters.set(key, {
        customerId: event.customerId,
        metric: event.metric,
        cycleStart: cycle.start,
        cycleEnd: cycle.end,
        used: 0n,
        before: 0n,
        closed: false,
        included: BigInt(limit?.included ?? 0),
        policy: limit?.overLimit.policy ?? 'reject',
        ...(limit?.overLimit.policy === 'credits' ? { credits: limit.overLimit, tiers: creditTiers(limit.overLimit) } : {}),
        creditDay: NO_CREDIT_DAY,
      });
    }
  });

  // Lock (creating when missing) every counter the batch touches, in key order.
  const ordered = [...counters.values()].sort((a, b) =>
    a.customerId < b.customerId ? -1 : a.customerId > b.customerId ? 1 : a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : a.cycleStart - b.cycleStart);
  // The lock and the events' INSERT go out together (pipeline): nothing the INSERT sends depends
  // on what the lock reads. The server runs the INSERT after the lock, so the locks are held.
  if (ordered.length > 0) {
    pipeline.send(() => client.query<{ customer_id: string; metric: string; cycle_start: Date; used: string; closed: boolean } & CreditDayRow>({
      name: 'usage-lock-counters',
      text: `INSERT INTO usage_counters AS c (customer_id, metric, cycle_start, cycle_end)
       SELECT customer_id, metric, cycle_start, cycle_end
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS t(customer_id, metric, cycle_start, cycle_end, n)
       ORDER BY n
       ON CONFLICT (customer_id, metric, cycle_start) DO UPDATE SET cycle_end = c.cycle_end
       RETURNING customer_id, metric, cycle_start, used::text, closed, ${CREDIT_DAY_COLUMNS}`,
      values: [ordered.map((c) => c.customerId), ordered.map((c) => c.metric), ordered.map((c) => new Date(c.cycleStart)), ordered.map((c) => new Date(c.cycleEnd))],
    }).then(({ rows }) => {
      for (const row of rows) {
        const counter = counters.get(counterKey(row.customer_id, row.metric, row.cycle_start.getTime()));
        if (!counter) continue;
        counter.used = BigInt(row.used);
        counter.before = counter.used;
        counter.closed = row.closed;
        counter.creditDay = creditDayOf(row);
      }
    }));
  }

  // Insert every candidate: the primary key sorts new keys from duplicates in the same statement
  // (a key recorded by a concurrent batch is visible here once that batch commits, and we hold the
  // counter locks it needed). Refused events (and those of a counter the lock finds closed) are
  // deleted again below: they are the exception, so this costs less than looking keys up first.
  const candidates: number[] = [];
  events.forEach((_, i) => {
    if (!outcomes[i]) candidates.push(i);
  });
  // Credit balances of the customers with a `credits` counter here, read after the counters are
  // locked, riding on the events' INSERT (no round trip of their own): that statement starts after
  // the counter locks are held, so it sees the balance the previous holder of the lock left. Which
  // of them will draw is known only once the lock has read `used`, so all are read; those that do
  // not draw are set aside below. They are not locked (a row lock is a write per row): the
  // balance write only lands on a row still as read, else the transaction is tried again with
  // `lockBalances`, which locks them here, after the counters (always in this order, so nothing
  // deadlocks).
  const unit = creditUnitOf(catalog);
  const mayDraw = unit ? [...new Set(ordered.filter((counter) => counter.credits).map((counter) => counter.customerId))].sort() : [];
  const inserted = new Set<string>();
  const readRows: CreditAccountRow[] = [];
  if (candidates.length > 0) {
    const rows = candidates.map((i) => events[i]!);
    const values = [
      rows.map((e) => e.customerId),
      rows.map((e) => e.idempotencyKey),
      rows.map((e) => e.metric),
      rows.map((e) => e.quantity.toString()),
      rows.map((e) => new Date(e.occurredAt)),
      candidates.map((i) => new Date(cycleOf[i]!.start)),
    ];
    const insertEvents = `INSERT INTO usage_events (customer_id, idempotency_key, metric, quantity, occurred_at, cycle_start)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
       ON CONFLICT (customer_id, idempotency_key) DO NOTHING
       RETURNING customer_id, idempotency_key`;
    if (mayDraw.length === 0) {
      pipeline.send(() => client.query<{ customer_id: string; idempotency_key: string }>({ name: 'usage-insert-events', text: insertEvents, values }).then(({ rows: returned }) => {
        for (const row of returned) inserted.add(eventKey(row.customer_id, row.idempotency_key));
      }));
    } else {
      pipeline.send(() => client.query<{ kind: 'event' | 'account'; customer_id: string; idempotency_key: string | null } & Omit<CreditAccountRow, 'customer_id'>>({
        name: options.lockBalances ? 'usage-insert-events-lock-balances' : 'usage-insert-events-read-balances',
        text: `WITH inserted AS (${insertEvents}),
         accounts AS (${(options.lockBalances ? SELECT_ACCOUNTS_FOR_UPDATE : SELECT_ACCOUNTS).replace(/\$([12])\b/g, (_, n: string) => (n === '1' ? '$8' : '$7'))})
         SELECT 'event' AS kind, customer_id, idempotency_key, NULL::text AS balance_nanos, NULL::text AS threshold_nanos, NULL::boolean AS below_threshold, NULL::boolean AS exhausted, NULL::int AS crossings FROM inserted
         UNION ALL
         SELECT 'account', customer_id, NULL, balance_nanos, threshold_nanos, below_threshold, exhausted, crossings FROM accounts`,
        values: [...values, unit!.id, mayDraw],
      }).then(({ rows: returned }) => {
        for (const row of returned) {
          if (row.kind === 'event') inserted.add(eventKey(row.customer_id, row.idempotency_key!));
          else readRows.push(row);
        }
      }));
    }
  }
  await pipeline.all();

  // The customers whose events may go past a `credits` limit, now that `used` is known.
  const reach = new Map<Counter, bigint>();
  for (const i of candidates) {
    const counter = counters.get(counterKey(events[i]!.customerId, events[i]!.metric, cycleOf[i]!.start))!;
    if (counter.credits && !counter.closed) reach.set(counter, (reach.get(counter) ?? counter.used) + events[i]!.quantity);
  }
  const drawing = unit ? [...new Set([...reach].filter(([counter, total]) => total > counter.included).map(([counter]) => counter.customerId))].sort() : [];
  const drawingSet = new Set(drawing);
  const accounts: Map<string, CreditAccountState> = drawing.length > 0
    ? await creditAccountsOf(client, unit!.id, drawing, readRows.filter((row) => drawingSet.has(row.customer_id)), catalog)
    : new Map();
  const uses: CreditUse[] = [];

  // Decide each event in arrival order; the first occurrence of a newly inserted key is the new one.
  const refused: LedgerEvent[] = [];
  const refusedKeys = new Map<string, 'usage_limit_reached' | 'insufficient_credits'>();
  const closedKeys = new Set<string>();
  for (const i of candidates) {
    const event = events[i]!;
    const counter = counters.get(counterKey(event.customerId, event.metric, cycleOf[i]!.start))!;
    const key = eventKey(event.customerId, event.idempotencyKey);
    if (counter.closed || closedKeys.has(key)) {
      // Inserted beside the lock of a counter the renewal had closed: not recorded after all (and
      // the same key again in this batch gets the same answer: its row is deleted below).
      outcomes[i] = { status: 'rejected', code: 'period_closed' };
      if (inserted.delete(key)) {
        refused.push(event);
        closedKeys.add(key);
      }
      continue;
    }
    const view = { limit: counter.included, policy: counter.policy, cycleStart: counter.cycleStart, cycleEnd: counter.cycleEnd };
    const refusedBefore = refusedKeys.get(key);
    if (refusedBefore) {
      // The same event again in this batch: the same answer.
      outcomes[i] = { status: 'refused', code: refusedBefore, used: counter.used, ...view };
      continue;
    }
    if (!inserted.delete(key)) {
      outcomes[i] = { status: 'duplicate', used: counter.used, ...view };
      continue;
    }
    const refusal = counter.credits
      ? drawCredits({ account: accounts.get(event.customerId), counter: { used: counter.used, included: counter.included, cycleStart: counter.cycleStart, policy: counter.credits, tiers: counter.tiers! }, event, uses })
      : admits({ used: counter.used, quantity: event.quantity, included: counter.included, policy: counter.policy as 'reject' | 'bill' }) ? undefined : 'usage_limit_reached' as const;
    if (refusal) {
      outcomes[i] = { status: 'refused', code: refusal, used: counter.used, ...view };
      refused.push(event);
      refusedKeys.set(key, refusal);
      continue;
    }
    counter.used += event.quantity;
    outcomes[i] = { status: 'counted', used: counter.used, ...view };
  }
  // From here to COMMIT nothing waits for an answer: the statements and COMMIT go out together.
  // Any failure aborts the transaction, so the COMMIT behind it rolls back (and `all` rejects).
  if (refused.length > 0) {
    // A refused event is not recorded: the same key may count later (after an upgrade, say).
    pipeline.send(() => client.query(
      `DELETE FROM usage_events e USING unnest($1::text[], $2::text[]) AS t(customer_id, idempotency_key)
       WHERE e.customer_id = t.customer_id AND e.idempotency_key = t.idempotency_key`,
      [refused.map((e) => e.customerId), refused.map((e) => e.idempotencyKey)],
    ));
  }

  const changed = ordered.filter((c) => c.used !== c.before);
  const counterWrites = { customerIds: changed.map((c) => c.customerId), metrics: changed.map((c) => c.metric), cycleStarts: changed.map((c) => new Date(c.cycleStart)), used: changed.map((c) => c.used.toString()) };
  // With credits drawn, one statement writes the counters and the credits together.
  if (unit && accounts.size > 0) pipeline.send(() => writeCountersAndCredits(client, unit.id, changed, accounts, uses), creditWriteError);
  else if (changed.length === 1) {
    // One counter (a hot customer's usual transaction): plain parameters plan and run faster than a join with unnest.
    pipeline.send(() => client.query({
      name: 'usage-update-counter',
      text: 'UPDATE usage_counters SET used = $4::bigint WHERE customer_id = $1 AND metric = $2 AND cycle_start = $3',
      values: [counterWrites.customerIds[0], counterWrites.metrics[0], counterWrites.cycleStarts[0], counterWrites.used[0]],
    }));
  } else if (changed.length > 0) {
    pipeline.send(() => client.query({
      name: 'usage-update-counters',
      text: `UPDATE usage_counters c SET used = t.used
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) AS t(customer_id, metric, cycle_start, used)
       WHERE c.customer_id = t.customer_id AND c.metric = t.metric AND c.cycle_start = t.cycle_start`,
      values: [counterWrites.customerIds, counterWrites.metrics, counterWrites.cycleStarts, counterWrites.used],
    }));
  }
  if (changed.length > 0) {
    const crossings: Array<{ counter: Counter; threshold: AlertThreshold }> = changed.flatMap((counter) =>
      crossedThresholds(counter.before, counter.used, counter.included).map((threshold) => ({ counter, threshold })));
    if (crossings.length > 0) {
      pipeline.send(() => client.query(
        `INSERT INTO usage_alerts (customer_id, metric, cycle_start, cycle_end, threshold, used, "limit")
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[], $6::bigint[], $7::bigint[])
         ON CONFLICT (customer_id, metric, cycle_start, threshold, "limit") DO NOTHING`,
        [
          crossings.map((x) => x.counter.customerId),
          crossings.map((x) => x.counter.metric),
          crossings.map((x) => new Date(x.counter.cycleStart)),
          crossings.map((x) => new Date(x.counter.cycleEnd)),
          crossings.map((x) => x.threshold),
          crossings.map((x) => x.counter.used.toString()),
          crossings.map((x) => x.counter.included.toString()),
        ],
      ));
    }
  }
  await pipeline.commit(client);
  return outcomes.map((o) => o!);
}

/** The read-only answer from the database: would `quantity` more be admitted now? (The rule: billing/usageCheck.ts.) */
export async function checkUsage(pool: pg.Pool, catalog: Catalog, args: { customerId: string; metric: string; quantity: bigint; now: number }): Promise<UsageCheck | undefined> {
  const unit = creditUnitOf(catalog);
  const { rows } = await pool.query<{ plan_id: string; status: string; cycle_end: Date; used: string | null; balance: string | null }>({
    name: 'usage-check',
    text: `SELECT s.plan_id, s.status, s.cycle_end, c.used::text AS used, a.balance_nanos::text AS balance
     FROM subscriptions s
     LEFT JOIN usage_counters c ON c.customer_id = s.customer_id AND c.metric = $2 AND c.cycle_start = s.cycle_start
     LEFT JOIN credit_accounts a ON a.customer_id = s.customer_id AND a.unit = $3
     WHERE s.customer_id = $1`,
    values: [args.customerId, args.metric, unit?.id ?? ''],
  });
  const row = rows[0];
  if (!row) return undefined;
  return decideUsageCheck(catalog, {
    planId: row.plan_id, status: row.status, cycleEnd: row.cycle_end.getTime(), used: BigInt(row.used ?? 0), balance: BigInt(row.balance ?? 0),
  }, args);
}
