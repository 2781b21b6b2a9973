/**
 * Usage alerts, one channel per activity. A delivery row per (customer, metric, cycle, threshold,
 * limit, channel) is the idempotency record and the delivery report.
 *
 * No transaction is held open while sending: a destination can take seconds to answer, and a
 * connection idle in a transaction holds locks and a pool slot for that long. Instead an attempt
 * (1) claims the row in one statement: status 'sending' with a lease id and an expiry, unless the
 * alert was delivered or another attempt's lease still holds; (2) sends, outside any transaction;
 * (3) records the outcome in one statement, a failure only while it still holds the lease. So two
 * attempts never send at once, a delivered alert is never sent again, and the claim of an attempt
 * that died expires. (A process that dies after the destination accepted the message but before
 * the outcome is recorded sends it once more later: Slack, Discord, Telegram and SMTP offer no
 * idempotency key to prevent that.) Secrets stay in the database: the workflow's history only
 * ever holds channel kinds, and delivery reports only the senders' fixed messages.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import { findPlan } from '../billing/catalog.js';
import { alertMessage } from '../notifications/alertMessage.js';
import { alertChannelsSchema, channelList, type ChannelConfig, type ChannelKind } from '../notifications/channelConfig.js';
import { ChannelNotConfiguredError, PermanentDeliveryError, TransientDeliveryError, type AlertText, type Senders } from '../notifications/senders.js';
import type { Db } from '../store/db.js';
import { ALERT_DELIVERY_MAX_ATTEMPTS, type ThresholdCrossing } from '../workflows/messages.js';

/**
 * How long a claim holds. Longer than the activity's 30 s startToClose timeout (and the senders'
 * timeouts), so a retry that starts because an attempt timed out waits for that attempt to finish
 * or die instead of sending alongside it.
 */
export const ALERT_DELIVERY_LEASE_MS = 60_000;

export interface AlertActivityDeps {
  db: Db;
  senders: Senders;
  catalog: () => Catalog;
}

interface DeliveryKey {
  customerId: string;
  metric: string;
  cycleStart: Date;
  threshold: number;
  limit: bigint;
  channel: ChannelKind;
}

type Claim = { kind: 'claimed'; leaseId: string } | { kind: 'delivered' } | { kind: 'busy' };

type Outcome =
  | { status: 'delivered' }
  | { status: 'retrying' | 'failed' | 'skipped'; lastError: string; error: Error };

async function channelsOf(db: Pick<Db, 'customer'>, customerId: string): Promise<{ name: string; channels: ChannelConfig[] }> {
  const customer = await db.customer.findUniqueOrThrow({ where: { id: customerId }, include: { alertChannels: true } });
  const parsed = customer.alertChannels ? alertChannelsSchema.safeParse(customer.alertChannels.channels) : undefined;
  const configured = parsed?.success ? channelList(parsed.data) : [];
  // Email always goes out: to the configured addresses, else to the customer's billing email.
  const channels: ChannelConfig[] = configured.some((c) => c.kind === 'email') ? configured : [{ kind: 'email', to: [customer.email] }, ...configured];
  return { name: customer.name, channels };
}

/** Claims the delivery in one statement (its own short transaction). */
async function claim(db: Db, key: DeliveryKey, attempt: number): Promise<Claim> {
  const leaseId = randomUUID();
  const lease = `${ALERT_DELIVERY_LEASE_MS} milliseconds`;
  const claimed = await db.$queryRaw<Array<{ lease_id: string }>>`
    INSERT INTO alert_deliveries (customer_id, metric, cycle_start, threshold, "limit", channel, status, attempts, lease_id, lease_expires_at)
    VALUES (${key.customerId}, ${key.metric}, ${key.cycleStart}, ${key.threshold}, ${key.limit}, ${key.channel}, 'sending', ${attempt},
            ${leaseId}::uuid, now() + ${lease}::interval)
    ON CONFLICT (customer_id, metric, cycle_start, threshold, "limit", channel) DO UPDATE
      SET status = 'sending', attempts = EXCLUDED.attempts, lease_id = EXCLUDED.lease_id,
          lease_expires_at = EXCLUDED.lease_expires_at, updated_at = now()
      WHERE alert_deliveries.status <> 'delivered'
        AND (alert_deliveries.status = 'sending' AND alert_deliveries.lease_expires_at > now()) IS NOT TRUE
    RETURNING lease_id::text`;
  if (claimed.length > 0) return { kind: 'claimed', leaseId };
  const row = await db.alertDelivery.findUnique({ where: { customerId_metric_cycleStart_threshold_limit_channel: key }, select: { status: true } });
  return row?.status === 'delivered' ? { kind: 'delivered' } : { kind: 'busy' };
}

/** Records the outcome in one statement. */
async function record(db: Db, key: DeliveryKey, leaseId: string, attempt: number, outcome: Outcome): Promise<void> {
  const where = { customerId: key.customerId, metric: key.metric, cycleStart: key.cycleStart, threshold: key.threshold, limit: key.limit, channel: key.channel };
  const released = { leaseId: null, leaseExpiresAt: null, attempts: attempt };
  if (outcome.status === 'delivered') {
    // Whoever holds the row now, the alert has been delivered: recording it stops any further send.
    await db.alertDelivery.updateMany({ where, data: { ...released, status: 'delivered', lastError: null, deliveredAt: new Date() } });
    return;
  }
  // Only while this attempt still holds the claim: after its lease expired another attempt may
  // have taken over, and its report is the one that counts.
  await db.alertDelivery.updateMany({ where: { ...where, status: 'sending', leaseId }, data: { ...released, status: outcome.status, lastError: outcome.lastError } });
}

function failureOutcome(error: unknown, attempt: number): Exclude<Outcome, { status: 'delivered' }> {
  const failure = error instanceof Error ? error : new Error(String(error));
  if (failure instanceof ChannelNotConfiguredError) return { status: 'skipped', lastError: failure.message, error: failure };
  const known = failure instanceof PermanentDeliveryError || failure instanceof TransientDeliveryError;
  // The senders' messages are fixed phrases; anything else (a database error, a bug) may say
  // anything, so the report shows a fixed phrase and the log has the rest.
  const lastError = known ? failure.message : 'internal error while preparing or sending the alert';
  const status = failure instanceof PermanentDeliveryError || attempt >= ALERT_DELIVERY_MAX_ATTEMPTS ? 'failed' : 'retrying';
  return { status, lastError, error: failure };
}

export function createAlertActivities(deps: AlertActivityDeps) {
  const { db, senders } = deps;

  async function compose(customerId: string, channel: ChannelKind, crossing: ThresholdCrossing): Promise<{ destination?: ChannelConfig; message: AlertText }> {
    const [{ name, channels }, subscription] = await Promise.all([channelsOf(db, customerId), db.subscription.findUnique({ where: { customerId } })]);
    const catalog = deps.catalog();
    const metric = catalog.metrics.find((m) => m.id === crossing.metric);
    const message = alertMessage({
      customerId,
      customerName: name,
      planName: (subscription && findPlan(catalog, subscription.planId)?.name) ?? subscription?.planId ?? '',
      metric: crossing.metric,
      metricName: metric?.name ?? crossing.metric,
      unit: metric?.unit ?? 'unit',
      threshold: crossing.threshold,
      used: Number(crossing.used),
      limit: Number(crossing.limit),
      cycleEnd: new Date(crossing.cycleEnd).toISOString(),
    });
    return { destination: channels.find((c) => c.kind === channel), message };
  }

  return {
    /** Which channels to alert on (kinds only: secrets never enter workflow history). */
    async alertChannelsOf(customerId: string): Promise<ChannelKind[]> {
      return (await channelsOf(db, customerId)).channels.map((c) => c.kind);
    },

    async deliverAlert(args: { customerId: string; channel: ChannelKind; crossing: ThresholdCrossing }): Promise<'delivered' | 'already_delivered' | 'skipped'> {
      const { customerId, channel, crossing } = args;
      const key: DeliveryKey = { customerId, metric: crossing.metric, cycleStart: new Date(crossing.cycleStart), threshold: crossing.threshold, limit: BigInt(crossing.limit), channel };
      const attempt = Context.current().info.attempt;

      const claimed = await claim(db, key, attempt);
      if (claimed.kind === 'delivered') return 'already_delivered';
      if (claimed.kind === 'busy') throw ApplicationFailure.retryable('another attempt is sending this alert', 'DeliveryInProgress');

      let outcome: Outcome;
      try {
        const { destination, message } = await compose(customerId, channel, crossing);
        if (!destination) throw new ChannelNotConfiguredError(`the ${channel} channel is no longer configured`);
        await senders.send(destination, message);
        outcome = { status: 'delivered' };
      } catch (error) {
        outcome = failureOutcome(error, attempt);
      }
      await record(db, key, claimed.leaseId, attempt, outcome);

      if (outcome.status === 'delivered') return 'delivered';
      if (outcome.status === 'skipped') return 'skipped';
      const { error } = outcome;
      log.warn('alert delivery failed', { customerId, channel, metric: crossing.metric, threshold: crossing.threshold, attempt, error: error.message });
      if (error instanceof PermanentDeliveryError) throw ApplicationFailure.nonRetryable(error.message, 'PermanentDeliveryError');
      throw ApplicationFailure.retryable(outcome.lastError, error instanceof TransientDeliveryError ? 'TransientDeliveryError' : 'AlertDeliveryError');
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
