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

/** The counters a usage transaction changed (written in the same statement as the credits). */
export interface CounterWrites {
  customerIds: string[];
  metrics: string[];
  cycleStarts: Date[];
  used: string[];
}

/**
 * Writes a usage transaction's counters, balances, aggregated consumption and crossings in ONE
 * statement (on the hot path each round trip is held under the counter locks). A balance is only
 * written where the row is still as it was read: balances read without a lock (the usual case,
 * see store/usageLedger.ts) that another transaction changed meanwhile fail the whole
 * transaction with CreditBalanceRaceError, and the recorder tries it again with the rows locked.
 */
export async function writeCountersAndCredits(client: pg.ClientBase, unit: string, counters: CounterWrites, accounts: ReadonlyMap<string, CreditAccountState>, uses: readonly CreditUse[]): Promise<void> {
  const changed: CreditAccountState[] = [];
  const crossings: Crossing[] = [];
  for (const account of accounts.values()) {
    const before = { below: account.below, exhausted: account.exhausted };
    crossings.push(...consumptionCrossings(account));
    if (account.balance !== account.before || account.below !== before.below || account.exhausted !== before.exhausted) changed.push(account);
  }
  const grouped = new Map<string, CreditUse & { events: number }>();
  for (const use of uses) {
    const key = `${use.customerId}\u0000${use.metric}\u0000${use.cycleStart}\u0000${use.day}`;
    const had = grouped.get(key);
    if (had) {
      had.quantity += use.quantity;
      had.creditsNanos += use.creditsNanos;
      had.events += 1;
    } else grouped.set(key, { ...use, events: 1 });
  }
  const rows = [...grouped.values()];
  if (counters.customerIds.length === 0 && changed.length === 0 && rows.length === 0 && crossings.length === 0) return;
  const result = await client.query<{ written: number }>({
    name: 'usage-write-counters-and-credits',
    text: `WITH counters AS (
       UPDATE usage_counters c SET used = t.used
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) AS t(customer_id, metric, cycle_start, used)
       WHERE c.customer_id = t.customer_id AND c.metric = t.metric AND c.cycle_start = t.cycle_start
       RETURNING 1
     ), accounts AS (
       UPDATE credit_accounts a SET balance_nanos = t.balance, below_threshold = t.below, exhausted = t.exhausted, crossings = t.crossings, updated_at = now()
       FROM unnest($5::text[], $6::numeric[], $7::boolean[], $8::boolean[], $9::int[], $23::numeric[], $24::boolean[], $25::boolean[], $26::int[])
         AS t(customer_id, balance, below, exhausted, crossings, read_balance, read_below, read_exhausted, read_crossings)
       WHERE a.customer_id = t.customer_id AND a.unit = $10
         AND a.balance_nanos = t.read_balance AND a.below_threshold = t.read_below AND a.exhausted = t.read_exhausted AND a.crossings = t.read_crossings
       RETURNING 1
     ), consumption AS (
       INSERT INTO credit_consumption AS c (customer_id, unit, metric, cycle_start, day, quantity, credits_nanos, events)
       SELECT customer_id, $10, metric, cycle_start, day, quantity, credits_nanos, events
       FROM unnest($11::text[], $12::text[], $13::timestamptz[], $14::date[], $15::numeric[], $16::numeric[], $17::bigint[]) AS t(customer_id, metric, cycle_start, day, quantity, credits_nanos, events)
       ON CONFLICT (customer_id, unit, metric, cycle_start, day) DO UPDATE SET
         quantity = c.quantity + EXCLUDED.quantity, credits_nanos = c.credits_nanos + EXCLUDED.credits_nanos, events = c.events + EXCLUDED.events, last_at = now()
       RETURNING 1
     ), alerts AS (
       INSERT INTO credit_alerts (customer_id, unit, kind, crossing, balance_nanos, threshold_nanos)
       SELECT customer_id, $10, kind, crossing, balance, threshold FROM unnest($18::text[], $19::text[], $20::int[], $21::numeric[], $22::numeric[]) AS t(customer_id, kind, crossing, balance, threshold)
       ON CONFLICT (customer_id, unit, crossing) DO NOTHING
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM accounts)::int AS written`,
    values: [
      counters.customerIds, counters.metrics, counters.cycleStarts, counters.used,
      changed.map((a) => a.customerId), changed.map((a) => a.balance.toString()), changed.map((a) => a.below), changed.map((a) => a.exhausted), changed.map((a) => a.crossings),
      unit,
      rows.map((r) => r.customerId), rows.map((r) => r.metric), rows.map((r) => new Date(r.cycleStart)), rows.map((r) => r.day), rows.map((r) => r.quantity.toString()), rows.map((r) => r.creditsNanos.toString()), rows.map((r) => r.events),
      crossings.map((c) => c.customerId), crossings.map((c) => c.kind), crossings.map((c) => c.crossing), crossings.map((c) => c.balance.toString()), crossings.map((c) => c.threshold?.toString() ?? null),
      changed.map((a) => a.before.toString()), changed.map((a) => a.read.below), changed.map((a) => a.read.exhausted), changed.map((a) => a.read.crossings),
    ],
  });
  if (result.rows[0]!.written !== changed.length) throw new CreditBalanceRaceError();
}
