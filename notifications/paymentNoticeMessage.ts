/**
 * The human message of a payment notice: a failed renewal payment (with the next retry), or what
 * happened after the last failure. The same subject and text go out by email (as subject and
 * body) and by Slack, Discord and Telegram (subject as the first line), like usage alerts.
 *
 * Names, the invoice number and the reason come from customers, the catalog and the payment
 * provider: each is kept on one line, so the message's lines are always ours. The pay link is
 * shown only as an http(s) URL in its normalized form (no spaces, no line breaks).
 */
import type { DunningFinalAction } from '../billing/paymentPolicy.js';
import type { AlertText } from './senders.js';
import { clip, day, link, MAX_REASON_LENGTH, oneLine, sentence } from './noticeText.js';

export interface PaymentNoticeFacts {
  customerName: string;
  kind: 'payment_failed' | 'payment_final';
  invoiceNumber: string;
  /** Exact and with its currency, e.g. "30.00 USD". */
  amount: string;
  /** Why the payment failed, e.g. "Your card was declined." */
  reason: string;
  /** Where to pay the invoice or update the card; null when there is no such page. */
  payUrl: string | null;
  /** ISO timestamp of the next automatic retry; null when none is left. */
  nextRetryAt: string | null;
  /** For 'payment_final': what happened after the last failure. */
  finalAction: DunningFinalAction | null;
  /** The subscription's plan (kept on 'mark_uncollectible', ending on 'cancel'). */
  planName: string;
  /** The plan a 'fallback_plan' final action moved the subscription to. */
  fallbackPlanName?: string | null;
  /** ISO timestamp of the end of the current period, when a 'cancel' takes effect. */
  periodEnd?: string | null;
}

function plan(name: string | null | undefined, otherwise: string): string {
  const clean = oneLine(name ?? '');
  return clean ? `the ${clean} plan` : otherwise;
}

export function paymentNoticeMessage(n: PaymentNoticeFacts): AlertText {
  const invoice = oneLine(n.invoiceNumber) || 'without a number';
  const amount = oneLine(n.amount);
  const customer = oneLine(n.customerName);
  const prefix = customer ? `${customer}: ` : '';
  const reason = clip(oneLine(n.reason), MAX_REASON_LENGTH);
  const url = link(n.payUrl);
  const failed = `Payment for invoice ${invoice}${amount ? ` (${amount})` : ''} failed${reason ? `: ${sentence(reason)}` : '.'}`;

  if (n.kind === 'payment_failed') {
    const retry = day(n.nextRetryAt);
    return {
      subject: `${prefix}payment for invoice ${invoice} failed`,
      text: [
        failed,
        retry ? `We will try again on ${retry}.` : 'We will not try again automatically.',
        url ? `Update your card: ${url}` : 'Please update your card.',
      ].join('\n'),
    };
  }

  const current = plan(n.planName, 'its current plan');
  let subject: string;
  let outcome: string;
  switch (n.finalAction) {
    case 'fallback_plan': {
      const fallback = plan(n.fallbackPlanName, 'the fallback plan');
      subject = `${prefix}moved to ${fallback} after failed payments`;
      outcome = `That was the last attempt: the subscription has been moved to ${fallback} now.`;
      break;
    }
    case 'cancel': {
      const end = day(n.periodEnd);
      subject = `${prefix}subscription to be cancelled after failed payments`;
      outcome = `That was the last attempt: the subscription to ${current} will be cancelled at the end of the current period${end ? ` (${end})` : ''}.`;
      break;
    }
    case 'mark_uncollectible':
      subject = `${prefix}invoice ${invoice} marked uncollectible`;
      outcome = `That was the last attempt: invoice ${invoice} has been marked uncollectible. The subscription stays on ${current}.`;
      break;
    default:
      subject = `${prefix}payment for invoice ${invoice} failed`;
      outcome = 'That was the last attempt: we will not try again automatically.';
  }
  return { subject, text: [failed, outcome, ...(url ? [`Pay the invoice: ${url}`] : [])].join('\n') };
}
