/**
 * Credits notices (low balance, exhausted, auto-recharge failed / turned off / at its spending
 * limit), one channel per activity, delivered exactly like payment notices
 * (paymentNoticeActivities.ts, deliveryLease.ts): a row per (customer, noticeId, channel) in
 * payment_notice_deliveries is the idempotency record and the report, claimed with a lease, sent
 * outside any transaction, never sent again once delivered. The workflow namespaces credit notice
 * ids (`credits:…`), so they never collide with payment notices in the shared table. Destinations
 * and secrets are read here, so the workflow's history only ever holds kinds and the notice itself.
 */
import { Context } from '@temporalio/activity';
import type { ChannelKind } from '../notifications/channelConfig.js';
import { creditNoticeMessage } from '../notifications/creditNoticeMessage.js';
import { ChannelNotConfiguredError, type Senders } from '../notifications/senders.js';
import type { Db } from '../store/db.js';
import { ALERT_DELIVERY_MAX_ATTEMPTS, type CreditNotice } from '../workflows/messages.js';
import { customerChannels, deliverCustomerNotice } from './deliveryLease.js';

/**
 * The workflow's retry policy for deliverCreditNotice must use the same maximumAttempts (and
 * nonRetryableErrorTypes ['PermanentDeliveryError']), so the last attempt reports 'failed'.
 */
export const CREDIT_NOTICE_MAX_ATTEMPTS = ALERT_DELIVERY_MAX_ATTEMPTS;

export interface CreditNoticeActivityDeps {
  db: Db;
  senders: Senders;
}

export function createCreditNoticeActivities(deps: CreditNoticeActivityDeps) {
  const { db, senders } = deps;

  async function send(customerId: string, channel: ChannelKind, notice: CreditNotice): Promise<void> {
    const { name, channels } = await customerChannels(db, customerId);
    const destination = channels.find((c) => c.kind === channel);
    if (!destination) throw new ChannelNotConfiguredError(`the ${channel} channel is no longer configured`);
    await senders.send(destination, creditNoticeMessage({ customerName: name, notice }));
  }

  return {
    /**
     * Delivers one notice on one channel. Resolves once it is delivered (now or before) or the
     * channel is not configured (reported 'skipped'); throws like deliverPaymentNotice otherwise:
     * 'DeliveryInProgress', 'TransientDeliveryError' and 'CreditNoticeDeliveryError' are
     * retryable, 'PermanentDeliveryError' is not.
     */
    async deliverCreditNotice(args: { customerId: string; channel: ChannelKind; notice: CreditNotice }): Promise<void> {
      const { customerId, channel, notice } = args;
      await deliverCustomerNotice({
        db,
        customerId,
        noticeId: notice.noticeId,
        channel,
        attempt: Context.current().info.attempt,
        maxAttempts: CREDIT_NOTICE_MAX_ATTEMPTS,
        what: 'credit notice',
        internalErrorType: 'CreditNoticeDeliveryError',
        send: () => send(customerId, channel, notice),
        logFields: { customerId, channel, noticeId: notice.noticeId, kind: notice.kind },
      });
    },
  };
}

export type CreditNoticeActivities = ReturnType<typeof createCreditNoticeActivities>;
