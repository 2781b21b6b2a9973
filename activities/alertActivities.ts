/**
 * Usage alerts, one channel per activity. A delivery row per (customer, metric, cycle, threshold,
 * limit, channel) in alert_deliveries is the idempotency record and the delivery report, claimed
 * with a lease and sent outside any transaction (activities/deliveryLease.ts). Secrets stay in
 * the database: the workflow's history only ever holds channel kinds, and delivery reports only
 * the senders' fixed messages.
 */
import { Context } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import { findPlan } from '../billing/catalog.js';
import { alertMessage } from '../notifications/alertMessage.js';
import type { ChannelConfig, ChannelKind } from '../notifications/channelConfig.js';
import { ChannelNotConfiguredError, type AlertText, type Senders } from '../notifications/senders.js';
import type { Db } from '../store/db.js';
import { ALERT_DELIVERY_MAX_ATTEMPTS, type ThresholdCrossing } from '../workflows/messages.js';
import { customerChannels, deliverWithLease } from './deliveryLease.js';

export interface AlertActivityDeps {
  db: Db;
  senders: Senders;
  catalog: () => Catalog;
}

export function createAlertActivities(deps: AlertActivityDeps) {
  const { db, senders } = deps;

  async function compose(customerId: string, channel: ChannelKind, crossing: ThresholdCrossing): Promise<{ destination?: ChannelConfig; message: AlertText }> {
    const [{ name, channels }, subscription] = await Promise.all([customerChannels(db, customerId), db.subscription.findUnique({ where: { customerId } })]);
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
      return (await customerChannels(db, customerId)).channels.map((c) => c.kind);
    },

    async deliverAlert(args: { customerId: string; channel: ChannelKind; crossing: ThresholdCrossing }): Promise<'delivered' | 'already_delivered' | 'skipped'> {
      const { customerId, channel, crossing } = args;
      return deliverWithLease({
        db,
        row: {
          table: 'alert_deliveries',
          key: [['customer_id', customerId], ['metric', crossing.metric], ['cycle_start', new Date(crossing.cycleStart)], ['threshold', crossing.threshold], ['limit', BigInt(crossing.limit)], ['channel', channel]],
        },
        attempt: Context.current().info.attempt,
        maxAttempts: ALERT_DELIVERY_MAX_ATTEMPTS,
        what: 'alert',
        internalErrorType: 'AlertDeliveryError',
        send: async () => {
          const { destination, message } = await compose(customerId, channel, crossing);
          if (!destination) throw new ChannelNotConfiguredError(`the ${channel} channel is no longer configured`);
          await senders.send(destination, message);
        },
        logFields: { customerId, channel, metric: crossing.metric, threshold: crossing.threshold },
      });
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
