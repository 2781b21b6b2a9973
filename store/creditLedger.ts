/**
 * Credits drawn by usage, inside the usage ledger's own transaction (store/usageLedger.ts): the
 * balance row is locked after the counters, each event past a `credits` limit is paid from it or
 * refused whole (never a negative balance, never an event counted without its credits), the draw
 * is aggregated per metric per day, and a balance that falls under its threshold or runs out
 * writes one outbox row per crossing (credit_alerts), relayed to the subscription workflow like
 * usage alerts. Plain SQL over node-postgres: this runs on the hot path.
 */
import type pg from 'pg';
import type { Catalog, CreditsPolicy } from '../billing/catalog.js';
import { creditDraw, type CreditTiers } from '../billing/creditPricing.js';
import { parseNanos } from '../billing/money.js';

export interface CreditAccountState {
  customerId: string;
  balance: bigint;
  before: bigint;
  /** The row as read (with `before`): the write only lands on a row still like this. */
  read: { below: boolean; exhausted: boolean; crossings: number };
  /** The customer's threshold, else the catalog's; undefined when neither is set. */
  threshold: bigint | undefined;
  below: boolean;
  exhausted: boolean;
  crossings: number;
  /** An event was refused for want of credits in this transaction. */
  starved: boolean;
}

/** Credits one event drew, aggregated per (customer, metric, cycle, day) before writing. */
export interface CreditUse {
  customerId: string;
  metric: string;
  cycleStart: number;
  day: string;
  quantity: bigint;
  creditsNanos: bigint;
}

export function catalogThresholdNanos(catalog: Catalog): bigint | undefined {
  const value = catalog.credits?.lowBalanceThreshold;
  return value === undefined ? undefined : parseNanos(value);
}

export interface CreditAccountRow { customer_id: string; balance_nanos: string; threshold_nanos: string | null; below_threshold: boolean; exhausted: boolean; crossings: number }

/** The balance rows of customers $1 in unit $2 (read as they are). */
export const SELECT_ACCOUNTS = `SELECT customer_id, balance_nanos::text AS balance_nanos, threshold_nanos::text AS threshold_nanos, below_threshold, exhausted, crossings
  FROM credit_accounts WHERE unit = $2 AND customer_id = ANY($1::text[]) ORDER BY customer_id`;
/** The same, locked in id order. */
export const SELECT_ACCOUNTS_FOR_UPDATE = `${SELECT_ACCOUNTS} FOR UPDATE`;

/**
 * A balance row changed between our read and our write (another counter of the same customer drew
 * from it, or a grant landed): the whole usage transaction is rolled back and tried again, with the
 * rows locked this time. SQLSTATE 40001 is what the usage recorder retries.
 */
export class CreditBalanceRaceError extends Error {
  readonly code = '40001';
  constructor() {
    super('a credit balance changed while this usage transaction drew from it');
    this.name = 'CreditBalanceRaceError';
  }
}

/**
 * The locked balance rows of `customerIds` (sorted): `locked` are the rows the caller's statement
 * already locked (store/usageLedger.ts locks them with the events' INSERT); the rare customer
 * without a row yet gets one here (inserted in id order too, so two first draws never deadlock).
 * A plain SELECT … FOR UPDATE writes no new row version.
 */
export async function creditAccountsOf(client: pg.ClientBase, unit: string, customerIds: string[], locked: CreditAccountRow[], catalog: Catalog): Promise<Map<string, CreditAccountState>> {
  const rows = [...locked];
  if (rows.length < customerIds.length) {
    const found = new Set(rows.map((r) => r.customer_id));
    const missing = customerIds.filter((id) => !found.has(id));
    await client.query(
      `INSERT INTO credit_accounts (customer_id, unit) SELECT customer_id, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t(customer_id, n) ORDER BY n ON CONFLICT (customer_id, unit) DO NOTHING`,
      [missing, unit],
    );
    rows.push(...(await client.query<CreditAccountRow>(SELECT_ACCOUNTS_FOR_UPDATE, [missing, unit])).rows);
  }
  const fallback = catalogThresholdNanos(catalog);
  return new Map(rows.map((r) => {
    const balance = BigInt(r.balance_nanos);
    return [r.customer_id, {
      customerId: r.customer_id,
      balance,
      before: balance,
      threshold: r.threshold_nanos === null ? fallback : BigInt(r.threshold_nanos),
      read: { below: r.below_threshold, exhausted: r.exhausted, crossings: r.crossings },
      below: r.below_threshold,
      exhausted: r.exhausted,
      crossings: r.crossings,
      starved: false,
    }];
  }));
}

/**
 * Pays one event's units past the limit from the balance, or refuses it whole. Returns the refusal
 * code, or undefined when the event is admitted (its draw, if any, taken from `account`).
 */
export function drawCredits(args: {
  account: CreditAccountState | undefined;
  counter: { used: bigint; included: bigint; cycleStart: number; policy: CreditsPolicy; tiers: CreditTiers };
  event: { customerId: string; metric: string; quantity: bigint; occurredAt: number };
  uses: CreditUse[];
}): 'insufficient_credits' | undefined {
  const { account, counter, event } = args;
  const draw = creditDraw({ used: counter.used, quantity: event.quantity, included: counter.included, policy: counter.policy, tiers: counter.tiers });
  const units = draw.overAfter - draw.overBefore;
  if (units === 0n) return undefined;
  if (!account || draw.creditsNanos > account.balance) {
    if (account) account.starved = true;
    return 'insufficient_credits';
  }
  account.balance -= draw.creditsNanos;
  args.uses.push({ customerId: event.customerId, metric: event.metric, cycleStart: counter.cycleStart, day: new Date(event.occurredAt).toISOString().slice(0, 10), quantity: units, creditsNanos: draw.creditsNanos });
  return undefined;
}

interface Crossing {
  customerId: string;
  kind: 'low' | 'exhausted';
  crossing: number;
  balance: bigint;
  threshold: bigint | undefined;
}

/** The crossings a transaction's draws cause: under the threshold (once until a grant lifts it back), out of credits (likewise). */
export function consumptionCrossings(account: CreditAccountState): Crossing[] {
  const crossings: Crossing[] = [];
  const fell = account.balance < account.before;
  if (fell && account.threshold !== undefined && !account.below && account.balance < account.threshold) {
    account.below = true;
    account.crossings += 1;
    crossings.push({ customerId: account.customerId, kind: 'low', crossing: account.crossings, balance: account.balance, threshold: account.threshold });
  }
  if (!account.exhausted && ((fell && account.balance === 0n) || account.starved)) {
    account.exhausted = true;
    account.crossings += 1;
    crossings.push({ customerId: account.customerId, kind: 'exhausted', crossing: account.crossings, balance: account.balance, threshold: account.threshold });
  }
  return crossings;
}

/**
 * Credits drawn through one counter on its latest day: kept on the counter row (written with
 * `used`, under the counter's lock, so the hot path writes no extra row for its history) until a
 * later day begins, then moved to credit_consumption. A back-dated draw for an earlier day goes to
 * credit_consumption at once; so each (metric, cycle, day) lives in exactly one of the two places.
 */
export interface CounterCreditDay {
  day: string | null;
  quantity: bigint;
  nanos: bigint;
  events: bigint;
  firstAt: Date | null;
  lastAt: Date | null;
}

export const NO_CREDIT_DAY: CounterCreditDay = { day: null, quantity: 0n, nanos: 0n, events: 0n, firstAt: null, lastAt: null };

/** The counter's credit-day columns, as returned with it (SQL select list). */
export const CREDIT_DAY_COLUMNS = 'credit_day::text AS credit_day, credit_day_quantity::text AS credit_day_quantity, credit_day_nanos::text AS credit_day_nanos, credit_day_events::text AS credit_day_events, credit_day_first_at, credit_day_last_at';

export interface CreditDayRow {
  credit_day: string | null;
  credit_day_quantity: string;
  credit_day_nanos: string;
  credit_day_events: string;
  credit_day_first_at: Date | null;
  credit_day_last_at: Date | null;
}

export function creditDayOf(row: CreditDayRow): CounterCreditDay {
  return {
    day: row.credit_day,
    quantity: BigInt(row.credit_day_quantity),
    nanos: BigInt(row.credit_day_nanos),
    events: BigInt(row.credit_day_events),
    firstAt: row.credit_day_first_at,
    lastAt: row.credit_day_last_at,
  };
}

/**
 * Every consumption row of customers $1 (text[]) in unit $2, wherever it lives (for raw-SQL checks:
 * the bench's ledger check, the tests): credit_consumption and the counters' latest days.
 */
export const CONSUMPTION_ROWS_OF_CUSTOMERS = `(SELECT customer_id, metric, cycle_start, day, quantity, credits_nanos, events FROM credit_consumption WHERE customer_id = ANY($1::text[]) AND unit = $2
  UNION ALL
  SELECT customer_id, metric, cycle_start, credit_day, credit_day_quantity, credit_day_nanos, credit_day_events FROM usage_counters
  WHERE customer_id = ANY($1::text[]) AND credit_day IS NOT NULL AND credit_day_events > 0)`;

/** A counter a usage transaction changed, with its credit day as read. */
export interface CounterWrite {
  customerId: string;
  metric: string;
  cycleStart: number;
  used: bigint;
  creditDay: CounterCreditDay;
}

interface ConsumptionRow {
  customerId: string;
  metric: string;
  cycleStart: number;
  day: string;
  quantity: bigint;
  nanos: bigint;
  events: bigint;
  firstAt: Date | null;
  lastAt: Date | null;
}

/**
 * Writes a usage transaction's counters (with their credit days), balances, the consumption rows
 * that leave the counters (a day that ended, a back-dated draw) and the crossings in ONE statement
 * (on the hot path each round trip is held under the counter locks). A balance is only written
 * where the row is still as it was read: balances read without a lock (the usual case, see
 * store/usageLedger.ts) that another transaction changed meanwhile fail the whole transaction with
 * CreditBalanceRaceError, and it runs again with the rows locked.
 *
 * Built and issued synchronously; the promise is node-postgres's own, so a caller may queue COMMIT
 * right after it (store/usageLedger.ts, on a pipelining connection, store/statementPipeline.ts).
 */
export function writeCountersAndCredits(client: pg.ClientBase, unit: string, counters: readonly CounterWrite[], accounts: ReadonlyMap<string, CreditAccountState>, uses: readonly CreditUse[]): Promise<unknown> {
  const changed: CreditAccountState[] = [];
  const crossings: Crossing[] = [];
  for (const account of accounts.values()) {
    const before = { below: account.below, exhausted: account.exhausted };
    crossings.push(...consumptionCrossings(account));
    if (account.balance !== account.before || account.below !== before.below || account.exhausted !== before.exhausted) changed.push(account);
  }
  // This transaction's draws per counter and day.
  const byCounter = new Map<string, Map<string, { quantity: bigint; nanos: bigint; events: bigint }>>();
  for (const use of uses) {
    const key = `${use.customerId}\u0000${use.metric}\u0000${use.cycleStart}`;
    const days = byCounter.get(key) ?? new Map<string, { quantity: bigint; nanos: bigint; events: bigint }>();
    byCounter.set(key, days);
    const had = days.get(use.day) ?? { quantity: 0n, nanos: 0n, events: 0n };
    days.set(use.day, { quantity: had.quantity + use.quantity, nanos: had.nanos + use.creditsNanos, events: had.events + 1n });
  }
  const rows: ConsumptionRow[] = [];
  const days = counters.map((counter) => {
    let state = { ...counter.creditDay };
    let reset = false;
    let touched = false;
    const drawn = byCounter.get(`${counter.customerId}\u0000${counter.metric}\u0000${counter.cycleStart}`);
    for (const [day, g] of [...(drawn ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const row = { customerId: counter.customerId, metric: counter.metric, cycleStart: counter.cycleStart };
      if (state.day === null || day > state.day) {
        // A later day begins: the day before leaves the counter for credit_consumption.
        if (state.day !== null && state.events > 0n) rows.push({ ...row, day: state.day, quantity: state.quantity, nanos: state.nanos, events: state.events, firstAt: state.firstAt, lastAt: state.lastAt });
        state = { day, quantity: g.quantity, nanos: g.nanos, events: g.events, firstAt: null, lastAt: null };
        reset = true;
        touched = true;
      } else if (day === state.day) {
        state = { ...state, quantity: state.quantity + g.quantity, nanos: state.nanos + g.nanos, events: state.events + g.events };
        touched = true;
      } else {
        // Back-dated to a day that has ended: straight to credit_consumption.
        rows.push({ ...row, day, quantity: g.quantity, nanos: g.nanos, events: g.events, firstAt: null, lastAt: null });
      }
    }
    return { state, reset, touched };
  });
  if (counters.length === 0 && changed.length === 0 && rows.length === 0 && crossings.length === 0) return Promise.resolve();
  // The parts with nothing to write are left out (most transactions move no consumption row and
  // cross nothing): each combination is its own prepared statement.
  const values: unknown[] = [];
  const $ = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const unitParam = $(unit);
  // One counter and one balance (a hot customer's usual transaction): plain parameters, which
  // PostgreSQL plans and runs faster than a join with unnest.
  const single = counters.length === 1 && changed.length === 1;
  const counterPart = single
    ? (() => {
        const [c, d, a] = [counters[0]!, days[0]!, changed[0]!];
        return `counters AS (
       UPDATE usage_counters c SET used = ${$(c.used.toString())}::bigint, credit_day = ${$(d.state.day)}::date, credit_day_quantity = ${$(d.state.quantity.toString())}::numeric,
         credit_day_nanos = ${$(d.state.nanos.toString())}::numeric, credit_day_events = ${$(d.state.events.toString())}::bigint,
         credit_day_first_at = CASE WHEN ${$(d.reset)}::boolean THEN now() ELSE c.credit_day_first_at END,
         credit_day_last_at = CASE WHEN ${$(d.touched)}::boolean THEN now() ELSE c.credit_day_last_at END
       WHERE c.customer_id = ${$(c.customerId)} AND c.metric = ${$(c.metric)} AND c.cycle_start = ${$(new Date(c.cycleStart))}::timestamptz
       RETURNING 1
     ), accounts AS (
       UPDATE credit_accounts a SET balance_nanos = ${$(a.balance.toString())}::numeric, below_threshold = ${$(a.below)}::boolean, exhausted = ${$(a.exhausted)}::boolean,
         crossings = ${$(a.crossings)}::int, updated_at = now()
       WHERE a.customer_id = ${$(a.customerId)} AND a.unit = ${unitParam}
         AND a.balance_nanos = ${$(a.before.toString())}::numeric AND a.below_threshold = ${$(a.read.below)}::boolean AND a.exhausted = ${$(a.read.exhausted)}::boolean AND a.crossings = ${$(a.read.crossings)}::int
       RETURNING 1
     )`;
      })()
    : `counters AS (
       UPDATE usage_counters c SET used = t.used, credit_day = t.day, credit_day_quantity = t.q, credit_day_nanos = t.n, credit_day_events = t.e,
         credit_day_first_at = CASE WHEN t.reset THEN now() ELSE c.credit_day_first_at END,
         credit_day_last_at = CASE WHEN t.touched THEN now() ELSE c.credit_day_last_at END
       FROM unnest(${$(counters.map((c) => c.customerId))}::text[], ${$(counters.map((c) => c.metric))}::text[], ${$(counters.map((c) => new Date(c.cycleStart)))}::timestamptz[],
         ${$(counters.map((c) => c.used.toString()))}::bigint[], ${$(days.map((d) => d.state.day))}::date[], ${$(days.map((d) => d.state.quantity.toString()))}::numeric[],
         ${$(days.map((d) => d.state.nanos.toString()))}::numeric[], ${$(days.map((d) => d.state.events.toString()))}::bigint[], ${$(days.map((d) => d.reset))}::boolean[], ${$(days.map((d) => d.touched))}::boolean[])
         AS t(customer_id, metric, cycle_start, used, day, q, n, e, reset, touched)
       WHERE c.customer_id = t.customer_id AND c.metric = t.metric AND c.cycle_start = t.cycle_start
       RETURNING 1
     ), accounts AS (
       UPDATE credit_accounts a SET balance_nanos = t.balance, below_threshold = t.below, exhausted = t.exhausted, crossings = t.crossings, updated_at = now()
       FROM unnest(${$(changed.map((a) => a.customerId))}::text[], ${$(changed.map((a) => a.balance.toString()))}::numeric[], ${$(changed.map((a) => a.below))}::boolean[],
         ${$(changed.map((a) => a.exhausted))}::boolean[], ${$(changed.map((a) => a.crossings))}::int[], ${$(changed.map((a) => a.before.toString()))}::numeric[],
         ${$(changed.map((a) => a.read.below))}::boolean[], ${$(changed.map((a) => a.read.exhausted))}::boolean[], ${$(changed.map((a) => a.read.crossings))}::int[])
         AS t(customer_id, balance, below, exhausted, crossings, read_balance, read_below, read_exhausted, read_crossings)
       WHERE a.customer_id = t.customer_id AND a.unit = ${unitParam}
         AND a.balance_nanos = t.read_balance AND a.below_threshold = t.read_below AND a.exhausted = t.read_exhausted AND a.crossings = t.read_crossings
       RETURNING 1
     )`;
  const parts = [counterPart];
  if (rows.length > 0) {
    parts.push(`consumption AS (
       INSERT INTO credit_consumption AS c (customer_id, unit, metric, cycle_start, day, quantity, credits_nanos, events, first_at, last_at)
       SELECT customer_id, ${unitParam}, metric, cycle_start, day, quantity, credits_nanos, events, coalesce(first_at, now()), coalesce(last_at, now())
       FROM unnest(${$(rows.map((r) => r.customerId))}::text[], ${$(rows.map((r) => r.metric))}::text[], ${$(rows.map((r) => new Date(r.cycleStart)))}::timestamptz[],
         ${$(rows.map((r) => r.day))}::date[], ${$(rows.map((r) => r.quantity.toString()))}::numeric[], ${$(rows.map((r) => r.nanos.toString()))}::numeric[],
         ${$(rows.map((r) => r.events.toString()))}::bigint[], ${$(rows.map((r) => r.firstAt))}::timestamptz[], ${$(rows.map((r) => r.lastAt))}::timestamptz[])
         AS t(customer_id, metric, cycle_start, day, quantity, credits_nanos, events, first_at, last_at)
       ON CONFLICT (customer_id, unit, metric, cycle_start, day) DO UPDATE SET
         quantity = c.quantity + EXCLUDED.quantity, credits_nanos = c.credits_nanos + EXCLUDED.credits_nanos, events = c.events + EXCLUDED.events,
         first_at = least(c.first_at, EXCLUDED.first_at), last_at = greatest(c.last_at, EXCLUDED.last_at)
       RETURNING 1
     )`);
  }
  if (crossings.length > 0) {
    parts.push(`alerts AS (
       INSERT INTO credit_alerts (customer_id, unit, kind, crossing, balance_nanos, threshold_nanos)
       SELECT customer_id, ${unitParam}, kind, crossing, balance, threshold
       FROM unnest(${$(crossings.map((c) => c.customerId))}::text[], ${$(crossings.map((c) => c.kind))}::text[], ${$(crossings.map((c) => c.crossing))}::int[],
         ${$(crossings.map((c) => c.balance.toString()))}::numeric[], ${$(crossings.map((c) => c.threshold?.toString() ?? null))}::numeric[]) AS t(customer_id, kind, crossing, balance, threshold)
       ON CONFLICT (customer_id, unit, crossing) DO NOTHING
       RETURNING 1
     )`);
  }
  // The statement itself fails (TGC01, migration 20261129100000) when a balance row was not as
  // read, so a caller may send COMMIT right behind it: the failure aborts the transaction. The
  // caller turns that failure into CreditBalanceRaceError (creditWriteError).
  const expected = $(changed.length);
  return client.query({
    name: `usage-write-credits${single ? '-one' : ''}${rows.length > 0 ? '-consumption' : ''}${crossings.length > 0 ? '-alerts' : ''}`,
    text: `WITH ${parts.join(', ')}\n     SELECT tollgate_credit_write_check((SELECT count(*) FROM accounts)::int, ${expected}::int) AS written`,
    values,
  });
}

/** writeCountersAndCredits's failure as reported: a balance that changed under the read is a CreditBalanceRaceError. */
export function creditWriteError(error: unknown): unknown {
  return (error as { code?: string }).code === 'TGC01' ? new CreditBalanceRaceError() : error;
}
