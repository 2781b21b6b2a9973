/**
 * Payment notices (dunning), one channel per activity, delivered exactly like usage alerts
 * (activities/deliveryLease.ts): a row per (customer, noticeId, channel) in
 * payment_notice_deliveries is the idempotency record and the report, claimed with a lease, sent
 * outside any transaction, never sent again once delivered. The workflow learns the channel kinds
 * from alertChannelsOf (alertActivities.ts); destinations and secrets are read here, so the
 * workflow's history only ever holds kinds and the notice itself.
 */
import { Context } from '@temporalio/activity';
import type { Catalog } from '../billing/catalog.js';
import { findPlan } from '../billing/catalog.js';
import { formatMinor } from '../billing/money.js';
import type { ChannelKind } from '../notifications/channelConfig.js';
import { paymentNoticeMessage } from '../notifications/paymentNoticeMessage.js';
import { ChannelNotConfiguredError, type Senders } from '../notifications/senders.js';
import type { Db } from '../store/db.js';
import { ALERT_DELIVERY_MAX_ATTEMPTS, type PaymentNotice } from '../workflows/messages.js';
import { customerChannels, deliverCustomerNotice } from './deliveryLease.js';

/**
 * The workflow's retry policy for deliverPaymentNotice must use the same maximumAttempts (and
 * nonRetryableErrorTypes ['PermanentDeliveryError']), so the last attempt reports 'failed'.
 */
export const PAYMENT_NOTICE_MAX_ATTEMPTS = ALERT_DELIVERY_MAX_ATTEMPTS;

export interface PaymentNoticeActivityDeps {
  db: Db;
  senders: Senders;
  /** For plan names in the text; notices still go out without it (ids stand in). */
  catalog?: () => Catalog;
}

export function createPaymentNoticeActivities(deps: PaymentNoticeActivityDeps) {
  const { db, senders } = deps;

  function planName(catalog: Catalog | undefined, planId: string | undefined): string {
    if (!planId) return '';
    return (catalog && findPlan(catalog, planId)?.name) ?? planId;
  }

  async function send(customerId: string, channel: ChannelKind, notice: PaymentNotice): Promise<void> {
    const [{ name, channels }, subscription] = await Promise.all([
      customerChannels(db, customerId),
      db.subscription.findUnique({ where: { customerId }, select: { planId: true, periodEnd: true } }),
    ]);
    const destination = channels.find((c) => c.kind === channel);
    if (!destination) throw new ChannelNotConfiguredError(`the ${channel} channel is no longer configured`);
    const catalog = deps.catalog?.();
    const message = paymentNoticeMessage({
      customerName: name,
      kind: notice.kind,
      invoiceNumber: notice.invoiceNumber,
      amount: `${formatMinor(BigInt(notice.amountMinor), notice.currency)} ${notice.currency}`,
      reason: notice.reason,
      payUrl: notice.payUrl,
      nextRetryAt: notice.nextRetryAt === null ? null : new Date(notice.nextRetryAt).toISOString(),
      finalAction: notice.finalAction,
      planName: planName(catalog, subscription?.planId),
      fallbackPlanName: catalog ? planName(catalog, catalog.fallbackPlan) : null,
      periodEnd: subscription?.periodEnd.toISOString() ?? null,
    });
    await senders.send(destination, message);
  }

  return {
    /**
     * Delivers one notice on one channel. Resolves once it is delivered (now or before) or the
     * channel is not configured (reported 'skipped'); throws like deliverAlert otherwise:
     * 'DeliveryInProgress' and 'TransientDeliveryError' are retryable, 'PermanentDeliveryError'
     * is not.
     */
    async deliverPaymentNotice(args: { customerId: string; channel: ChannelKind; notice: PaymentNotice }): Promise<void> {
      const { customerId, channel, notice } = args;
      await deliverCustomerNotice({
        db,
        customerId,
        noticeId: notice.noticeId,
        channel,
        attempt: Context.current().info.attempt,
        maxAttempts: PAYMENT_NOTICE_MAX_ATTEMPTS,
        what: 'payment notice',
        internalErrorType: 'PaymentNoticeDeliveryError',
        send: () => send(customerId, channel, notice),
        logFields: { customerId, channel, noticeId: notice.noticeId, kind: notice.kind },
      });
    },
  };
}

export type PaymentNoticeActivities = ReturnType<typeof createPaymentNoticeActivities>;
