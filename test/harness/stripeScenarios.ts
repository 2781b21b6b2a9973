/**
 * What Stripe tests keep saying to the fault proxy and the webhook route: a customer with a saved
 * card, a payment Stripe took, a signed event sent to the API. (stripe-mock's fixtures never change
 * status and its fixture customer has no card, so the proxy answers as Stripe would.)
 */
import Stripe from 'stripe';
import type { RespondContext, StripeFaultProxy } from './stripeFaultProxy.js';

export const PAY_PATH = /^\/v1\/invoices\/[^/]+\/pay$/;
export const CUSTOMER_PATH = /^\/v1\/customers\/cus_[^/]+$/;

/** Every Stripe customer has a default card from now on (until the proxy's faults are cleared). */
export function withSavedCard(proxy: StripeFaultProxy): void {
  proxy.inject({
    method: 'GET', path: CUSTOMER_PATH, times: Number.POSITIVE_INFINITY,
    respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), invoice_settings: { default_payment_method: 'pm_card_visa' } } }),
  });
}

/** Stripe's answer to a payment it took: the invoice paid. */
export function paidInvoice(context: RespondContext) {
  const invoice = context.upstream.json as Record<string, unknown>;
  const id = String(invoice.id);
  return {
    status: 200,
    json: { ...invoice, status: 'paid', hosted_invoice_url: `https://invoice.stripe.test/${id}`, invoice_pdf: `https://invoice.stripe.test/${id}.pdf`, payments: { object: 'list', data: [] } },
  };
}

/** A Stripe event as Stripe signs it with `secret`. */
export function signedEvent(secret: string, event: { id: string; type: string; object: Record<string, unknown>; previous?: Record<string, unknown> }, timestamp = Math.floor(Date.now() / 1000)) {
  const payload = JSON.stringify({
    id: event.id,
    object: 'event',
    type: event.type,
    created: Math.floor(Date.now() / 1000),
    api_version: '2026-10-28.endive',
    livemode: false,
    pending_webhooks: 1,
    data: { object: event.object, ...(event.previous ? { previous_attributes: event.previous } : {}) },
  });
  const header = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
  return { payload, header };
}

export async function sendWebhook(baseUrl: string, body: { payload: string; header: string }) {
  const response = await fetch(`${baseUrl}/v1/stripe/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': body.header }, body: body.payload });
  return { status: response.status, body: await response.json() as Record<string, any> };
}
