/**
 * The events outbound webhooks carry (issue 12). Each is written to the outbox (store/
 * webhookOutbox.ts) in the same transaction as the change it reports, numbered per customer, and
 * delivered to every endpoint subscribed to its type.
 */
export const WEBHOOK_EVENT_TYPES = ['invoice.created'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What each event's `data` holds (the OpenAPI document and the README show the same). */
export const WEBHOOK_EVENT_MEANINGS: Readonly<Record<WebhookEventType, string>> = {
  'invoice.created': 'an invoice was issued: `{ number, reason, status, currency, total, periodStart, periodEnd }` (money as decimal strings)',
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
