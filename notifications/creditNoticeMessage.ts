/**
 * The human message of a credits notice: the balance under its threshold or used up, or an
 * auto-recharge that failed, was turned off after repeated failures, or met the cycle's spending
 * limit. The same subject and text go out by email (as subject and body) and by Slack, Discord and
 * Telegram (subject as the first line), like payment notices (paymentNoticeMessage.ts).
 *
 * The name, the amounts and the reason come from customers, the catalog and the payment provider:
 * each is kept on one line, so the message's lines are always ours. The pay link is shown only as
 * an http(s) URL in its normalized form (no spaces, no line breaks).
 */
import type { CreditNotice } from '../workflows/messages.js';
import type { AlertText } from './senders.js';
import { clip, day, link, MAX_REASON_LENGTH, oneLine, sentence } from './noticeText.js';

export interface CreditNoticeFacts {
  customerName: string;
  notice: CreditNotice;
}

export function creditNoticeMessage(facts: CreditNoticeFacts): AlertText {
  const n = facts.notice;
  const customer = oneLine(facts.customerName);
  const prefix = customer ? `${customer}: ` : '';
  const balance = oneLine(n.balance);
  const threshold = oneLine(n.threshold);
  const amount = oneLine(n.amount);
  const reason = clip(oneLine(n.reason), MAX_REASON_LENGTH);
  const url = link(n.payUrl);
  const failed = `Auto-recharge could not charge ${amount || 'your card'}${reason ? `: ${sentence(reason)}` : '.'}`;

  switch (n.kind) {
    case 'credits_low':
      return {
        subject: `${prefix}credit balance is low`,
        text: [
          threshold ? `Your credit balance is ${balance}, below your threshold of ${threshold}.` : `Your credit balance is low: ${balance}.`,
          'Buy credits or turn on auto-recharge to keep usage flowing.',
        ].join('\n'),
      };
    case 'credits_exhausted':
      return {
        subject: `${prefix}credits used up`,
        text: `Your credit balance is ${balance}: usage past your plan is refused until you buy credits.`,
      };
    case 'recharge_failed': {
      const retry = day(n.nextRetryAt);
      return {
        subject: `${prefix}auto-recharge payment failed`,
        text: [
          failed,
          retry ? `We will try again on ${retry}.` : 'We will not try again automatically.',
          url ? `Update your card: ${url}` : 'Please update your card.',
        ].join('\n'),
      };
    }
    case 'recharge_off':
      return {
        subject: `${prefix}auto-recharge turned off`,
        text: [
          failed,
          `After repeated failures auto-recharge has been turned off. Your balance is ${balance}. Update your card and turn it back on.`,
          ...(url ? [`Update your card: ${url}`] : []),
        ].join('\n'),
      };
    case 'recharge_limit_reached': {
      const limit = oneLine(n.spendingLimit);
      const spent = oneLine(n.spent);
      return {
        subject: `${prefix}auto-recharge spending limit reached`,
        text: [
          `Auto-recharge did not buy credits: this billing cycle's spending limit${limit ? ` of ${limit}` : ''} is reached${spent ? ` (${spent} spent)` : ''}.`,
          `Your balance is ${balance}. Raise the limit or buy credits.`,
        ].join('\n'),
      };
    }
    default: {
      // A kind this code does not know (a newer workflow): fail the delivery rather than send nonsense.
      const unknown: never = n.kind;
      throw new Error(`unknown credit notice kind: ${String(unknown)}`);
    }
  }
}
