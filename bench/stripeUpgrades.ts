/**
 * Stripe for the upgrade bench: Stripe's official API mock (stripe-mock) behind the test suite's
 * proxy (test/harness/stripeFaultProxy.ts), with the two answers a paying customer needs, as in
 * test/api/stripePayments.test.ts:
 * - GET /v1/customers/cus_… says the customer has a saved card (stripe-mock's fixture customer has
 *   none, which would send the first invoice to Checkout and hold every upgrade);
 * - POST /v1/invoices/…/pay answers `status: 'paid'` (stripe-mock's fixtures never change status).
 * Everything else is stripe-mock's own answer, checked against Stripe's API description.
 *
 * The proxy is in the path of every Stripe call, so its cost is in the figures: the bench also
 * times single calls through it (`measureStripeRoundTrip`) so a reader can tell the Stripe share,
 * and counts the calls an upgrade made from the proxy's log (`stripeCallsOf`).
 */
import { paymentKeys } from '../activities/payments/paymentProvider.js';
import { createStripeClient } from '../activities/payments/stripePaymentProvider.js';
import { startStripeFaultProxy, type ProxiedRequest, type RespondContext, type StripeFaultProxy } from '../test/harness/stripeFaultProxy.js';
import { startStripeMock } from '../test/harness/stripeMock.js';

/**
 * Test-mode keys. stripe-mock answers 401 to a key with an underscore after `sk_test_`
 * (`sk_test_tollgate_bench` is refused), and the API refuses to start without a webhook secret.
 */
export const BENCH_STRIPE_SECRET_KEY = 'sk_test_tollgatebench';
export const BENCH_STRIPE_WEBHOOK_SECRET = 'whsec_tollgate_bench';

const PAY = /^\/v1\/invoices\/[^/]+\/pay$/;
const CUSTOMER = /^\/v1\/customers\/cus_[^/]+$/;

export interface BenchStripe {
  /** The proxy's base URL: what STRIPE_API_BASE points at. */
  url: string;
  proxy: StripeFaultProxy;
}

/**
 * Starts stripe-mock (installing it if needed: scripts/tools.ts findStripeMock, whose message is
 * the error when it cannot) and the proxy. Each is handed to `started` as soon as it runs, so the
 * caller's cleanup stops it whatever fails next.
 */
export async function startBenchStripe(started: (name: string, stop: () => Promise<void>) => void): Promise<BenchStripe> {
  const mock = await startStripeMock();
  started('stripe-mock', () => mock.stop());
  const proxy = await startStripeFaultProxy({ upstream: mock.url });
  started('Stripe proxy', () => proxy.close());
  proxy.inject({
    method: 'GET', path: CUSTOMER, times: Number.POSITIVE_INFINITY,
    respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), invoice_settings: { default_payment_method: 'pm_card_visa' } } }),
  });
  proxy.inject({
    method: 'POST', path: PAY, times: Number.POSITIVE_INFINITY,
    respond: ({ upstream }: RespondContext) => {
      const invoice = upstream.json as Record<string, unknown>;
      const id = String(invoice.id);
      return { status: 200, json: { ...invoice, status: 'paid', hosted_invoice_url: `https://invoice.stripe.test/${id}`, invoice_pdf: `https://invoice.stripe.test/${id}.pdf`, payments: { object: 'list', data: [] } } };
    },
  });
  return { url: proxy.url, proxy };
}

/**
 * A new customer's workflow creates its Stripe customer right after it starts: waits until every
 * one is made, so the first upgrade of the last customers created does not carry that call.
 */
export async function waitForStripeCustomers(proxy: StripeFaultProxy, customerIds: string[], timeoutMs: number): Promise<void> {
  const keys = new Set(customerIds.map((id) => paymentKeys.customer(id)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const made = new Set(proxy.requests.filter((r) => r.effective && r.idempotencyKey !== null && keys.has(r.idempotencyKey)).map((r) => r.idempotencyKey));
    if (made.size === keys.size) return;
    if (Date.now() > deadline) {
      const seen = [...stripeCallsOf(proxy.requests).byEndpoint].map(([endpoint, n]) => `${endpoint} × ${n}`).join(', ') || 'nothing';
      const creations = proxy.requests.filter((r) => r.method === 'POST' && r.path === '/v1/customers').slice(0, 3)
        .map((r) => `${r.idempotencyKey ?? 'no key'} → ${r.status ?? 'dropped'}`).join(', ');
      throw new Error(`only ${made.size} of ${keys.size} Stripe customers were created within ${timeoutMs / 1000} s of creating the Tollgate customers ` +
        `(the proxy saw: ${seen}${creations ? `; customer creations: ${creations}` : ''})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface StripeCalls {
  total: number;
  /** `POST /v1/invoices/{id}/pay` → count, in first-seen order. */
  byEndpoint: Map<string, number>;
  /** Calls not answered 2xx (retried by stripe-node or Temporal), and replays answered from the proxy's idempotency memory. */
  failed: number;
  replayed: number;
}

const endpointOf = (request: ProxiedRequest) => `${request.method} ${request.path.replace(/\/(cus|in|il|ii|pm|cs)_[A-Za-z0-9]+/g, '/{id}')}`;

export function stripeCallsOf(requests: ProxiedRequest[]): StripeCalls {
  const byEndpoint = new Map<string, number>();
  for (const request of requests) byEndpoint.set(endpointOf(request), (byEndpoint.get(endpointOf(request)) ?? 0) + 1);
  return {
    total: requests.length,
    byEndpoint,
    failed: requests.filter((r) => r.status === null || r.status < 200 || r.status >= 300).length,
    replayed: requests.filter((r) => r.replayed).length,
  };
}

/**
 * One Stripe call at a time from this process through the proxy to stripe-mock and back, with
 * stripe-node configured as the worker configures it, cycling through the five calls a paid
 * upgrade makes (read the customer, create the invoice, add its lines, finalize, pay). Each POST
 * gets a fresh idempotency key from stripe-node, so the proxy forwards every one (no replays).
 * Returns milliseconds, ascending; the first round is a warm-up and is not returned.
 */
export async function measureStripeRoundTrip(apiBase: string, rounds: number): Promise<number[]> {
  const stripe = createStripeClient({ secretKey: BENCH_STRIPE_SECRET_KEY, apiBase });
  const now = Math.floor(Date.now() / 1000);
  const calls: Array<() => Promise<unknown>> = [
    () => stripe.customers.retrieve('cus_bench'),
    () => stripe.invoices.create({ customer: 'cus_bench', currency: 'usd', collection_method: 'charge_automatically', auto_advance: false, pending_invoice_items_behavior: 'exclude', description: 'Tollgate bench', metadata: { tollgate_invoice_id: 'bench' } }),
    () => stripe.invoices.addLines('in_bench', { lines: [{ amount: 1_000, description: 'Bench line', period: { start: now - 86_400, end: now }, metadata: { tollgate_line: '0' } }] }),
    () => stripe.invoices.finalizeInvoice('in_bench', { auto_advance: false }),
    () => stripe.invoices.pay('in_bench', { off_session: true }),
  ];
  const latencies: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    for (const send of calls) {
      const started = process.hrtime.bigint();
      await send();
      if (round > 0) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  }
  return latencies.sort((a, b) => a - b);
}
