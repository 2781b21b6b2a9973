/**
 * The API's in-process view for the allow/refuse check (GET /v1/usage/check): what each recently
 * checked customer's subscription and counters hold, so a check is answered by the same rule as
 * the database path (billing/usageCheck.ts) without a round trip.
 *
 * How it stays true to the database:
 * - An entry is read from the database on first use and then kept fresh, never guessed.
 * - This process's own ledger writes are applied when they commit, before their requests are
 *   answered (`applyCounters`, from api/usage/usageRecorder.ts), so a caller sees its own events.
 * - Other API processes' writes arrive as notifications of the counters' new values
 *   (api/usage/counterPublisher.ts); the larger value wins, so order and repeats do not matter.
 * - Every change to what the view keeps of a subscription (plan, status, cycle: renewals, plan
 *   changes, a row written by hand) and every deletion fires a trigger that notifies its customer
 *   id in the writing transaction (prisma/migrations/…_usage_view_notify); the entry is dropped and
 *   read again when next asked. Inserts notify nothing: no entry exists for a customer without a row.
 * - Notifications that arrive while an entry is being read are applied to what the read returns,
 *   or, for a subscription change, keep the read out of the view.
 *
 * When the view does not answer (the database does): its listening connection is down (entries
 * are dropped the moment it drops: notifications may have been missed, and only entries read
 * after LISTEN is back are used); the cycle has ended (the renewal is due: the database knows
 * whether it happened); the metric's policy is `credits` (the balance moves with purchases,
 * grants and every draw); the entry is older than
 * `maxAgeMs` (a backstop for a notification lost with the process that should have sent it).
 *
 * What the view never does: decide `record`. The ledger's transaction does, under its locks; a
 * check is a question whose answer usage recorded right after it can overtake, from this view or
 * from the database alike.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { Catalog } from '../../billing/catalog.js';
import { checkNeedsBalance, decideUsageCheck, type UsageCheck } from '../../billing/usageCheck.js';
import { checkUsage } from '../../store/usageLedger.js';
import { COUNTERS_CHANNEL, decodeCounterValues, type CounterValue } from './counterPublisher.js';

/** The channel the subscriptions trigger notifies (its payload: the customer id). */
export const SUBSCRIPTIONS_CHANNEL = 'tollgate_subscriptions';

interface Entry {
  planId: string;
  status: string;
  cycleStart: number;
  cycleEnd: number;
  /** Counters of the current cycle by metric; a metric not here has nothing used. */
  used: Map<string, bigint>;
  loadedAt: number;
}

/** A read in flight: what was heard about its customer meanwhile. */
interface Loading {
  promise: Promise<Entry | undefined>;
  counters: CounterValue[];
  subscriptionChanged: boolean;
}

export interface UsageViewOptions {
  databaseUrl: string;
  pool: pg.Pool;
  logger: Logger;
  /** Customers kept at most; past it the oldest entry goes. */
  maxCustomers?: number;
  /** An entry older than this is read again. */
  maxAgeMs?: number;
  clock?: () => number;
}

export interface UsageViewStats {
  listening: boolean;
  /** Times the listening connection was lost (each dropped every entry). */
  connectionsLost: number;
  customers: number;
  answeredInProcess: number;
  answeredByDatabase: number;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export class UsageView {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Loading>();
  private listener: pg.Client | undefined;
  private listening = false;
  /** Bumped whenever the listening connection is lost: reads started before it are not kept. */
  private session = 0;
  private closed = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly maxCustomers: number;
  private readonly maxAgeMs: number;
  private readonly clock: () => number;
  private answeredInProcess = 0;
  private answeredByDatabase = 0;

  constructor(private readonly options: UsageViewOptions) {
    this.maxCustomers = options.maxCustomers ?? 100_000;
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Starts listening; resolves once listening or after the first failure (then retried in the background). */
  async start(): Promise<void> {
    await this.listen();
  }

  stats(): UsageViewStats {
    return { listening: this.listening, connectionsLost: this.session, customers: this.entries.size, answeredInProcess: this.answeredInProcess, answeredByDatabase: this.answeredByDatabase };
  }

  async check(catalog: Catalog, args: { customerId: string; metric: string; quantity: bigint; now: number }): Promise<UsageCheck | undefined> {
    const found = await this.entryFor(args.customerId, args.now);
    if (found === 'database') return this.fromDatabase(catalog, args);
    if (!found) {
      this.answeredByDatabase += 1;
      return undefined;
    }
    const { entry, fresh } = found;
    // A plan this catalog lacks is answered by the shared rule (`unavailable`), as the database path would.
    if (checkNeedsBalance(catalog, entry.planId, args.metric)) return this.fromDatabase(catalog, args);
    if (fresh) this.answeredInProcess += 1;
    else this.answeredByDatabase += 1;
    return decideUsageCheck(catalog, { planId: entry.planId, status: entry.status, cycleEnd: entry.cycleEnd, used: entry.used.get(args.metric) ?? 0n }, args);
  }

  /** Counters this process's ledger just committed (before their requests are answered). */
  applyCounters(values: readonly CounterValue[]): void {
    for (const value of values) {
      const pending = this.loading.get(value.customerId);
      if (pending) pending.counters.push(value);
      const entry = this.entries.get(value.customerId);
      if (entry) this.applyTo(entry, value);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.dropAll();
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
  }

  private fromDatabase(catalog: Catalog, args: { customerId: string; metric: string; quantity: bigint; now: number }): Promise<UsageCheck | undefined> {
    this.answeredByDatabase += 1;
    return checkUsage(this.options.pool, catalog, args);
  }

  /**
   * The customer's entry: from the view, or read now (kept when it may be). `database` when the
   * view cannot answer for it; undefined when there is no such customer.
   */
  private async entryFor(customerId: string, now: number): Promise<{ entry: Entry; fresh: boolean } | 'database' | undefined> {
    if (!this.listening) return 'database';
    const known = this.entries.get(customerId);
    if (known && now < known.cycleEnd && this.clock() - known.loadedAt < this.maxAgeMs) return { entry: known, fresh: true };
    if (known) this.entries.delete(customerId);
    const read = await this.read(customerId);
    // Read just now: as true as a database answer, kept or not.
    return read ? { entry: read, fresh: false } : undefined;
  }

  private read(customerId: string): Promise<Entry | undefined> {
    const inFlight = this.loading.get(customerId);
    if (inFlight) return inFlight.promise;
    const session = this.session;
    const loading: Loading = { promise: Promise.resolve(undefined), counters: [], subscriptionChanged: false };
    loading.promise = this.query(customerId).then((entry) => {
      if (!entry) return undefined;
      for (const value of loading.counters) this.applyTo(entry, value);
      if (this.listening && session === this.session && !loading.subscriptionChanged && !this.closed) this.keep(customerId, entry);
      return entry;
    }).finally(() => {
      if (this.loading.get(customerId) === loading) this.loading.delete(customerId);
    });
    this.loading.set(customerId, loading);
    return loading.promise;
  }

  private async query(customerId: string): Promise<Entry | undefined> {
    const { rows } = await this.options.pool.query<{ plan_id: string; status: string; cycle_start: Date; cycle_end: Date; used: Record<string, string> | null }>({
      name: 'usage-view-read',
      text: `SELECT s.plan_id, s.status, s.cycle_start, s.cycle_end,
         (SELECT json_object_agg(c.metric, c.used::text) FROM usage_counters c WHERE c.customer_id = s.customer_id AND c.cycle_start = s.cycle_start) AS used
       FROM subscriptions s WHERE s.customer_id = $1`,
      values: [customerId],
    });
    const row = rows[0];
    if (!row) return undefined;
    return {
      planId: row.plan_id,
      status: row.status,
      cycleStart: row.cycle_start.getTime(),
      cycleEnd: row.cycle_end.getTime(),
      used: new Map(Object.entries(row.used ?? {}).map(([metric, used]) => [metric, BigInt(used)])),
      loadedAt: this.clock(),
    };
  }

  private keep(customerId: string, entry: Entry): void {
    this.entries.delete(customerId);
    this.entries.set(customerId, entry);
    // Oldest first in a Map's order: drop from the front.
    while (this.entries.size > this.maxCustomers) this.entries.delete(this.entries.keys().next().value!);
  }

  private applyTo(entry: Entry, value: CounterValue): void {
    if (value.cycleStart < entry.cycleStart) return; // an earlier cycle's late news
    if (value.cycleStart > entry.cycleStart) {
      // A renewal this entry has not heard of yet: read it again when next asked.
      this.entries.delete(value.customerId);
      return;
    }
    const known = entry.used.get(value.metric) ?? 0n;
    if (value.used > known) entry.used.set(value.metric, value.used);
  }

  private subscriptionChanged(customerId: string): void {
    this.entries.delete(customerId);
    const pending = this.loading.get(customerId);
    if (pending) pending.subscriptionChanged = true;
  }

  private dropAll(): void {
    this.listening = false;
    this.session += 1;
    this.entries.clear();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.options.databaseUrl, keepAlive: true, application_name: 'tollgate-usage-view' });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.listener === client) this.listener = undefined;
      this.dropAll();
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.logger.warn({ err, retryInMs: this.reconnectDelay }, 'usage view: lost its listening connection; checks read the database until it is back');
      this.reconnectTimer = setTimeout(() => void this.listen(), this.reconnectDelay);
      this.reconnectDelay = Math.min(RECONNECT_MAX_MS, this.reconnectDelay * 2);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel === SUBSCRIPTIONS_CHANNEL && message.payload) this.subscriptionChanged(message.payload);
      else if (message.channel === COUNTERS_CHANNEL && message.payload) {
        const values = decodeCounterValues(message.payload);
        if (values) this.applyCounters(values);
        else this.options.logger.warn({ channel: message.channel }, 'usage view: ignored a notification not in the expected form');
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${SUBSCRIPTIONS_CHANNEL}; LISTEN ${COUNTERS_CHANNEL}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (lost || this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.listening = true;
    this.reconnectDelay = RECONNECT_MIN_MS;
  }
}
