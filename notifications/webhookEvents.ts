/**
 * The events outbound webhooks carry (issue 12). Each is written to the outbox (store/
 * webhookOutbox.ts) in the same transaction as the change it reports, numbered per customer, and
 * delivered to every endpoint subscribed to its type.
 */
export const WEBHOOK_EVENT_TYPES = ['customer.created', 'invoice.created', 'invoice.paid', 'invoice.payment_failed', 'subscription.updated', 'usage.threshold_crossed', 'credits.low', 'credits.purchased'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What each event's `data` holds (the OpenAPI document and the README show the same). */
export const WEBHOOK_EVENT_MEANINGS: Readonly<Record<WebhookEventType, string>> = {
  'customer.created': 'a customer was created (one request or a bulk import), its subscription about to start: `{ name, email, plan, interval, seats, status }`',
  'invoice.created': 'an invoice was issued: `{ number, reason, status, currency, total, periodStart, periodEnd }` (money as decimal strings)',
  'invoice.paid': 'an invoice was paid (by the provider, a webhook or an operator): `{ number, currency, total, paidAt, reference }`',
  'invoice.payment_failed': 'a payment of an invoice failed (a decline, no saved card, or the provider said so); the invoice stays open: `{ number, currency, total, reason, payUrl }`',
  'subscription.updated': 'the plan, interval, seats or status changed: `{ plan, interval, seats, status, previous: { plan, interval, seats, status } }`',
  'usage.threshold_crossed': 'usage of a metric crossed 80% or 100% of the plan\'s limit this cycle: `{ metric, threshold, used, limit, cycleStart, cycleEnd }`',
  'credits.low': 'the prepaid credit balance fell below the low-balance threshold, or ran out: `{ unit, balance, threshold, exhausted }` (credits as decimal strings)',
  'credits.purchased': 'credits bought (a purchase or an auto-recharge) were paid and granted: `{ unit, credits, balance, kind, invoiceNumber }`',
};

/** The body of every delivery: the event, the same bytes for each attempt (the signature covers them). */
export interface WebhookPayload {
  id: string;
  type: WebhookEventType;
  customerId: string;
  /** 1, 2, 3… per customer, in the order the changes committed: a receiver can spot a gap or an old event. */
  sequence: number;
  createdAt: string;
  data: Record<string, unknown>;
}
