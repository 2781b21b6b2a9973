/**
 * Tells the other API processes what the usage counters now hold, after the ledger committed
 * them, so their in-process views (api/usage/usageView.ts) answer checks without a database round
 * trip. PostgreSQL's NOTIFY carries it.
 *
 * Why after the commit and not in the ledger's transaction: a transaction that notifies holds a
 * server-wide lock from its commit until the commit is on disk, so notifying transactions commit
 * one at a time. Measured with pgbench on this machine kind (spread.sql, 16 clients): 4,593 txn/s
 * without, 2,068 with a NOTIFY in each transaction. Here the ledger's transactions stay as they
 * were; what changed is coalesced (one counter's latest value, not every step) and sent by one
 * notifying statement at a time, on its own connection with `synchronous_commit = off` (a
 * notification needs no durability: it is about rows that are already durable).
 *
 * A value is absolute (the counter's `used`), and views keep the larger of what they know and
 * what they hear, so order and repeats do not matter. A value lost (this process dying between
 * the commit and the send) leaves other views behind on that counter until its next write from
 * anywhere, and at most until their entries' age limit (USAGE_VIEW_MAX_AGE_MS).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../../store/db.js';
import { counterKey } from '../../store/usageLedger.js';

export const COUNTERS_CHANNEL = 'tollgate_usage_counters';

/** One counter's value after a commit. */
export interface CounterValue {
  customerId: string;
  metric: string;
  cycleStart: number;
  used: bigint;
}

/** NOTIFY payloads are limited to 8,000 bytes; stay well under. */
const MAX_PAYLOAD_BYTES = 7_000;

/** One payload's wire form: [customerId, metric, cycleStart ms, used as a decimal string]. */
type Wire = [string, string, number, string];

export function encodeCounterValues(values: readonly CounterValue[]): string[] {
  const payloads: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const value of values) {
    const item = JSON.stringify([value.customerId, value.metric, value.cycleStart, value.used.toString()] satisfies Wire);
    const size = Buffer.byteLength(item) + 1;
    if (current.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) {
      payloads.push(`[${current.join(',')}]`);
      current = [];
      bytes = 2;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) payloads.push(`[${current.join(',')}]`);
  return payloads;
}

/** The values of one payload; undefined for anything not in the wire form (never trusted blindly: the channel is open to every database user). */
export function decodeCounterValues(payload: string): CounterValue[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const values: CounterValue[] = [];
  for (const item of parsed) {
    if (!Array.isArray(item) || item.length !== 4) return undefined;
    const [customerId, metric, cycleStart, used] = item as unknown[];
    if (typeof customerId !== 'string' || typeof metric !== 'string' || typeof cycleStart !== 'number' || !Number.isSafeInteger(cycleStart)) return undefined;
    if (typeof used !== 'string' || !/^\d{1,19}$/.test(used)) return undefined;
    values.push({ customerId, metric, cycleStart, used: BigInt(used) });
  }
  return values;
}

export class CounterPublisher {
  private pending = new Map<string, CounterValue>();
  private sending: Promise<void> | undefined;
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, private readonly logger: Logger) {
    // A notification is about rows already durable: waiting for its own commit to reach the disk buys nothing.
    this.pool = createPool(databaseUrl, { max: 1, logger, name: 'usage-notify', serverOptions: '-c synchronous_commit=off' });
  }

  /** Queues the counters' values; sent at once, or with the next send when one is in flight. */
  publish(values: readonly CounterValue[]): void {
    for (const value of values) {
      const key = counterKey(value.customerId, value.metric, value.cycleStart);
      const known = this.pending.get(key);
      if (!known || known.used < value.used) this.pending.set(key, value);
    }
    if (!this.sending && this.pending.size > 0) this.sending = this.send();
  }

  private async send(): Promise<void> {
    while (this.pending.size > 0) {
      const values = [...this.pending.values()];
      this.pending.clear();
      try {
        await this.pool.query({ name: 'usage-notify-counters', text: 'SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', values: [COUNTERS_CHANNEL, encodeCounterValues(values)] });
      } catch (err) {
        // Not retried: other views catch up with the counter's next write, or by their entries' age limit.
        this.logger.warn({ err, counters: values.length }, 'could not tell other API processes about new usage counts');
      }
    }
    this.sending = undefined;
  }

  /** Sends what is queued, then closes the connection. */
  async close(): Promise<void> {
    await this.sending;
    await this.pool.end();
  }
}
