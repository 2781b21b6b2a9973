/**
 * One message to one channel, at most once once delivered, with its delivery row as the
 * idempotency record and the report: usage alerts, payment and credit notices. For any table that has
 * the delivery columns (status, attempts, last_error, delivered_at, lease_id, lease_expires_at,
 * updated_at) under a primary key of its own.
 *
 * No transaction is held open while sending: a destination can take seconds to answer, and a
 * connection idle in a transaction holds locks and a pool slot for that long. Instead an attempt
 * (1) claims the row in one statement: status 'sending' with a lease id and an expiry, unless the
 * message was delivered or another attempt's lease still holds; (2) sends, outside any
 * transaction; (3) records the outcome in one statement, a failure only while it still holds the
 * lease. So two attempts never send at once, a delivered message is never sent again, and the
 * claim of an attempt that died expires. (A process that dies after the destination accepted the
 * message but before the outcome is recorded sends it once more later: Slack, Discord, Telegram
 * and SMTP offer no idempotency key to prevent that.)
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, log } from '@temporalio/activity';
import { Prisma } from '../generated/prisma/client.js';
import { alertChannelsSchema, channelList, type ChannelConfig } from '../notifications/channelConfig.js';
import { ChannelNotConfiguredError, PermanentDeliveryError, TransientDeliveryError } from '../notifications/senders.js';
import type { Db } from '../store/db.js';

/**
 * How long a claim holds. Longer than a delivery activity's 30 s startToClose timeout (and the
 * senders' timeouts), so a retry that starts because an attempt timed out waits for that attempt
 * to finish or die instead of sending alongside it.
 */
export const DELIVERY_LEASE_MS = 60_000;

export type KeyValue = string | number | bigint | Date;

/**
 * A delivery row. `table` and the column names are identifiers of ours (constants in code, never
 * input): they are spliced into SQL, so they are checked against a plain-identifier pattern. The
 * key must be exactly the table's primary key, in any order: the claim upserts on it.
 */
export interface DeliveryRow {
  table: string;
  key: ReadonlyArray<readonly [column: string, value: KeyValue]>;
}

export type DeliveryResult = 'delivered' | 'already_delivered' | 'skipped';

export interface LeasedDelivery {
  db: Db;
  row: DeliveryRow;
  /** Temporal's attempt number (1 on the first), recorded as the row's attempts. */
  attempt: number;
  /** The activity's maximumAttempts: the last attempt's failure is reported as 'failed', not 'retrying'. */
  maxAttempts: number;
  /** What is delivered, for failures and logs: 'alert', 'payment notice'. */
  what: string;
  /** The Temporal failure type for errors that are neither the senders' nor configuration, e.g. 'AlertDeliveryError'. */
  internalErrorType: string;
  /**
   * Prepares and sends the message; called only while this attempt holds the claim, outside any
   * transaction. Throws the senders' errors, or ChannelNotConfiguredError when there is nothing to
   * send to (reported as 'skipped').
   */
  send(): Promise<void>;
  /** Extra fields for the failure's log line: never a destination or a secret. */
  logFields?: Record<string, string | number | null>;
}

type Claim = { kind: 'claimed'; leaseId: string } | { kind: 'delivered' } | { kind: 'busy' };

type Failure = { status: 'retrying' | 'failed' | 'skipped'; lastError: string; error: Error };
type Outcome = { status: 'delivered' } | Failure;

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function identifier(name: string): Prisma.Sql {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return Prisma.raw(`"${name}"`);
}

function keyColumns(row: DeliveryRow): Prisma.Sql {
  return Prisma.join(row.key.map(([column]) => identifier(column)));
}

function keyMatches(row: DeliveryRow): Prisma.Sql {
  return Prisma.join(row.key.map(([column, value]) => Prisma.sql`${identifier(column)} = ${value}`), ' AND ');
}

/** Claims the delivery in one statement (its own short transaction). */
async function claim(db: Db, row: DeliveryRow, attempt: number): Promise<Claim> {
  const table = identifier(row.table);
  const columns = keyColumns(row);
  const leaseId = randomUUID();
  const lease = `${DELIVERY_LEASE_MS} milliseconds`;
  const claimed = await db.$queryRaw<Array<{ lease_id: string }>>(Prisma.sql`
    INSERT INTO ${table} (${columns}, status, attempts, lease_id, lease_expires_at)
    VALUES (${Prisma.join(row.key.map(([, value]) => value))}, 'sending', ${attempt}, ${leaseId}::uuid, now() + ${lease}::interval)
    ON CONFLICT (${columns}) DO UPDATE
      SET status = 'sending', attempts = EXCLUDED.attempts, lease_id = EXCLUDED.lease_id,
          lease_expires_at = EXCLUDED.lease_expires_at, updated_at = now()
      WHERE ${table}.status <> 'delivered'
        AND (${table}.status = 'sending' AND ${table}.lease_expires_at > now()) IS NOT TRUE
    RETURNING lease_id::text`);
  if (claimed.length > 0) return { kind: 'claimed', leaseId };
  const rows = await db.$queryRaw<Array<{ status: string }>>(Prisma.sql`SELECT status FROM ${table} WHERE ${keyMatches(row)}`);
  return rows[0]?.status === 'delivered' ? { kind: 'delivered' } : { kind: 'busy' };
}

/** Records the outcome in one statement. */
async function record(db: Db, row: DeliveryRow, leaseId: string, attempt: number, outcome: Outcome): Promise<void> {
  const table = identifier(row.table);
  if (outcome.status === 'delivered') {
    // Whoever holds the row now, the message has been delivered: recording it stops any further send.
    await db.$executeRaw(Prisma.sql`
      UPDATE ${table} SET status = 'delivered', last_error = NULL, delivered_at = now(), attempts = ${attempt},
             lease_id = NULL, lease_expires_at = NULL, updated_at = now()
       WHERE ${keyMatches(row)}`);
    return;
  }
  // Only while this attempt still holds the claim: after its lease expired another attempt may
  // have taken over, and its report is the one that counts.
  await db.$executeRaw(Prisma.sql`
    UPDATE ${table} SET status = ${outcome.status}, last_error = ${outcome.lastError}, attempts = ${attempt},
           lease_id = NULL, lease_expires_at = NULL, updated_at = now()
     WHERE ${keyMatches(row)} AND status = 'sending' AND lease_id = ${leaseId}::uuid`);
}

function failureOutcome(error: unknown, attempt: number, maxAttempts: number, what: string): Failure {
  const failure = error instanceof Error ? error : new Error(String(error));
  if (failure instanceof ChannelNotConfiguredError) return { status: 'skipped', lastError: failure.message, error: failure };
  const known = failure instanceof PermanentDeliveryError || failure instanceof TransientDeliveryError;
  // The senders' messages are fixed phrases; anything else (a database error, a bug) may say
  // anything, so the report shows a fixed phrase and the log has the rest.
  const lastError = known ? failure.message : `internal error while preparing or sending the ${what}`;
  const status = failure instanceof PermanentDeliveryError || attempt >= maxAttempts ? 'failed' : 'retrying';
  return { status, lastError, error: failure };
}

/**
 * Claims, sends and records one delivery. Resolves when it was delivered now, had been delivered
 * before, or was skipped (the channel is not configured); throws an ApplicationFailure otherwise:
 * retryable 'DeliveryInProgress' while another attempt holds the claim, non-retryable
 * 'PermanentDeliveryError', retryable 'TransientDeliveryError' or `internalErrorType`.
 */
export async function deliverWithLease(d: LeasedDelivery): Promise<DeliveryResult> {
  const { db, row, attempt } = d;
  const claimed = await claim(db, row, attempt);
  if (claimed.kind === 'delivered') return 'already_delivered';
  if (claimed.kind === 'busy') throw ApplicationFailure.retryable(`another attempt is sending this ${d.what}`, 'DeliveryInProgress');

  let outcome: Outcome;
  try {
    await d.send();
    outcome = { status: 'delivered' };
  } catch (error) {
    outcome = failureOutcome(error, attempt, d.maxAttempts, d.what);
  }
  await record(db, row, claimed.leaseId, attempt, outcome);

  if (outcome.status === 'delivered') return 'delivered';
  if (outcome.status === 'skipped') return 'skipped';
  const { error } = outcome;
  log.warn(`${d.what} delivery failed`, { ...d.logFields, attempt, error: error.message });
  if (error instanceof PermanentDeliveryError) throw ApplicationFailure.nonRetryable(error.message, 'PermanentDeliveryError');
  throw ApplicationFailure.retryable(outcome.lastError, error instanceof TransientDeliveryError ? 'TransientDeliveryError' : d.internalErrorType);
}

/**
 * A customer's name and alert channels with their destinations (secrets included: for senders
 * only, never for workflow history or logs). Email always goes out: to the configured addresses,
 * else to the customer's billing email.
 */
export async function customerChannels(db: Pick<Db, 'customer'>, customerId: string): Promise<{ name: string; channels: ChannelConfig[] }> {
  const customer = await db.customer.findUniqueOrThrow({ where: { id: customerId }, include: { alertChannels: true } });
  const parsed = customer.alertChannels ? alertChannelsSchema.safeParse(customer.alertChannels.channels) : undefined;
  const configured = parsed?.success ? channelList(parsed.data) : [];
  const channels: ChannelConfig[] = configured.some((c) => c.kind === 'email') ? configured : [{ kind: 'email', to: [customer.email] }, ...configured];
  return { name: customer.name, channels };
}

/**
 * One customer notice (payment or credits) on one channel, its row in payment_notice_deliveries:
 * the idempotency record per (customer, noticeId, channel). Credit notice ids are namespaced
 * (`credits:…`), so both kinds share the table without colliding.
 */
export async function deliverCustomerNotice(args: {
  db: Db;
  customerId: string;
  noticeId: string;
  channel: string;
  attempt: number;
  maxAttempts: number;
  what: string;
  internalErrorType: string;
  send: () => Promise<void>;
  logFields: LeasedDelivery['logFields'];
}): Promise<void> {
  await deliverWithLease({
    db: args.db,
    row: { table: 'payment_notice_deliveries', key: [['customer_id', args.customerId], ['notice_id', args.noticeId], ['channel', args.channel]] },
    attempt: args.attempt,
    maxAttempts: args.maxAttempts,
    what: args.what,
    internalErrorType: args.internalErrorType,
    send: args.send,
    logFields: args.logFields,
  });
}
