/**
 * Usage alerts, one channel per activity. A delivery row per (customer, metric, cycle, threshold,
 * channel) is the idempotency record: it is locked while sending, so two attempts never send at
 * once, and a delivered alert is never sent again. (A process that dies after the destination
 * accepted the message but before the row commits will send it once more on retry: Slack, Discord,
 * Telegram and SMTP offer no idempotency key to prevent that.) Secrets stay in the database: the
 * workflow's history only ever holds channel kinds.
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import { findPlan } from '../billing/catalog.js';
import { alertMessage } from '../notifications/alertMessage.js';
import { alertChannelsSchema, channelList, type ChannelConfig, type ChannelKind } from '../notifications/channelConfig.js';
import { ChannelNotConfiguredError, PermanentDeliveryError, type Senders } from '../notifications/senders.js';
import type { Db } from '../store/db.js';
import { ALERT_DELIVERY_MAX_ATTEMPTS, type ThresholdCrossing } from '../workflows/messages.js';


export interface AlertActivityDeps {
  db: Db;
  senders: Senders;
  catalog: () => Catalog;
}

async function channelsOf(db: Pick<Db, 'customer'>, customerId: string): Promise<{ name: string; channels: ChannelConfig[] }> {
  const customer = await db.customer.findUniqueOrThrow({ where: { id: customerId }, include: { alertChannels: true } });
  const parsed = customer.alertChannels ? alertChannelsSchema.safeParse(customer.alertChannels.channels) : undefined;
  const configured = parsed?.success ? channelList(parsed.data) : [];
  // Email always goes out: to the configured addresses, else to the customer's billing email.
  const channels: ChannelConfig[] = configured.some((c) => c.kind === 'email') ? configured : [{ kind: 'email', to: [customer.email] }, ...configured];
  return { name: customer.name, channels };
}

export function createAlertActivities(deps: AlertActivityDeps) {
  const { db, senders } = deps;
  return {
    /** Which channels to alert on (kinds only: secrets never enter workflow history). */
    async alertChannelsOf(customerId: string): Promise<ChannelKind[]> {
      return (await channelsOf(db, customerId)).channels.map((c) => c.kind);
    },

    async deliverAlert(args: { customerId: string; channel: ChannelKind; crossing: ThresholdCrossing }): Promise<'delivered' | 'already_delivered' | 'skipped'> {
      const { customerId, channel, crossing } = args;
      const id = { customerId, metric: crossing.metric, cycleStart: new Date(crossing.cycleStart), threshold: crossing.threshold, limit: BigInt(crossing.limit), channel };
      const attempt = Context.current().info.attempt;
      let failure: Error | undefined;
      const result = await db.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO alert_deliveries (customer_id, metric, cycle_start, threshold, "limit", channel, status)
          VALUES (${customerId}, ${crossing.metric}, ${id.cycleStart}, ${crossing.threshold}, ${id.limit}, ${channel}, 'sending')
          ON CONFLICT DO NOTHING`;
        const [row] = await tx.$queryRaw<Array<{ status: string }>>`SELECT status FROM alert_deliveries
          WHERE customer_id = ${customerId} AND metric = ${crossing.metric} AND cycle_start = ${id.cycleStart}
            AND threshold = ${crossing.threshold} AND "limit" = ${id.limit} AND channel = ${channel} FOR UPDATE`;
        if (row?.status === 'delivered') return 'already_delivered' as const;

        const { name, channels } = await channelsOf(tx, customerId);
        const destination = channels.find((c) => c.kind === channel);
        const catalog = deps.catalog();
        const subscription = await tx.subscription.findUnique({ where: { customerId } });
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
        try {
          if (!destination) throw new ChannelNotConfiguredError(`the ${channel} channel is no longer configured`);
          await senders.send(destination, message);
          await tx.alertDelivery.update({ where: { customerId_metric_cycleStart_threshold_limit_channel: id }, data: { status: 'delivered', attempts: attempt, lastError: null, deliveredAt: new Date() } });
          return 'delivered' as const;
        } catch (error) {
          failure = error instanceof Error ? error : new Error(String(error));
          const status = error instanceof ChannelNotConfiguredError ? 'skipped'
            : error instanceof PermanentDeliveryError || attempt >= ALERT_DELIVERY_MAX_ATTEMPTS ? 'failed' : 'retrying';
          await tx.alertDelivery.update({ where: { customerId_metric_cycleStart_threshold_limit_channel: id }, data: { status, attempts: attempt, lastError: failure.message } });
          return status === 'skipped' ? ('skipped' as const) : undefined;
        }
      }, { timeout: 25_000, maxWait: 5_000 });

      if (result) return result;
      const error = failure ?? new Error('delivery failed');
      log.warn('alert delivery failed', { customerId, channel, metric: crossing.metric, threshold: crossing.threshold, attempt, error: error.message });
      if (error instanceof PermanentDeliveryError) throw ApplicationFailure.nonRetryable(error.message, 'PermanentDeliveryError');
      throw ApplicationFailure.retryable(error.message, 'TransientDeliveryError');
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
