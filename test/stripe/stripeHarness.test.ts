/**
 * The Stripe test tooling against the real stripe-mock, driven by stripe-node: if these hold, a
 * later test that counts `proxy.effective(...)` after killing a worker measures the app, not the
 * harness. No skips: a missing stripe-mock fails the file (findStripeMock throws MissingToolError).
 */
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStripeFaultProxy, type FaultAction, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';

let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
});

afterAll(async () => {
  await proxy?.close();
  await mock?.stop();
});

afterEach(() => proxy.reset());

function stripeVia(port: number, maxNetworkRetries = 0): Stripe {
  return new Stripe('sk_test_123', { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries });
}

async function failure(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected the Stripe call to fail');
}

const charge = (stripe: Stripe, idempotencyKey?: string) => stripe.paymentIntents.create(
  { amount: 2_000, currency: 'usd', customer: 'cus_test', payment_method: 'pm_card_visa', confirm: true, off_session: true },
  idempotencyKey ? { idempotencyKey } : undefined,
);

function idOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'id' in body && typeof body.id === 'string') return body.id;
  throw new Error(`no id in ${JSON.stringify(body)}`);
}

describe('stripe-mock', () => {
  it('serves the API on loopback, and a second one starts beside it (no fixed HTTPS port)', async () => {
    const second = await startStripeMock();
    try {
      expect(second.port).not.toBe(mock?.port);
      const customer = await stripeVia(second.port).customers.create({ email: 'direct@example.com' });
      expect(customer.email).toBe('direct@example.com');
      expect(customer.id).toMatch(/^cus_/);
    } finally {
      await second.stop();
    }
  });
});

describe('the fault proxy', () => {
  it('passes a customer create through to stripe-mock and logs it', async () => {
    const customer = await stripeVia(proxy.port).customers.create({ email: 'a@example.com', metadata: { plan: 'pro' } });
    expect(customer.email).toBe('a@example.com');
    const [entry, ...rest] = proxy.requests;
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({
      method: 'POST', path: '/v1/customers', status: 200, upstreamStatus: 200, replayed: false,
      dropped: false, executed: true, effective: true, faults: [],
      params: { email: 'a@example.com', 'metadata[plan]': 'pro' },
    });
    expect(entry?.body).toContain('metadata[plan]=pro');
    expect(entry?.idempotencyKey).toMatch(/^stripe-node-retry-/);
    expect(idOf(entry?.responseBody)).toBe(customer.id);
    expect(proxy.effective('POST', '/v1/customers')).toBe(1);
  });

  it('replays the first answer for a repeated Idempotency-Key without reaching upstream', async () => {
    const stripe = stripeVia(proxy.port);
    const first = await stripe.customers.create({ email: 'k@example.com' }, { idempotencyKey: 'cust-1' });
    const again = await stripe.customers.create({ email: 'k@example.com' }, { idempotencyKey: 'cust-1' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(proxy.countByKey('cust-1')).toBe(2);
    expect(proxy.upstreamCount('POST', '/v1/customers')).toBe(1);
    expect(proxy.effective('POST', '/v1/customers')).toBe(1);
    expect(proxy.requests.map((r) => r.replayed)).toEqual([false, true]);

    // stripe-mock hands out a fresh id per create, so distinct keys are visibly distinct operations.
    const other = await stripe.customers.create({ email: 'k@example.com' }, { idempotencyKey: 'cust-2' });
    expect(other.id).not.toBe(first.id);
    expect(proxy.effective('POST', '/v1/customers')).toBe(2);
  });

  it('answers idempotency_error when a key comes back with other parameters', async () => {
    const stripe = stripeVia(proxy.port);
    await stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: 'cust-x' });
    const error = await failure(stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: 'cust-x' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error.statusCode).toBe(400);
    expect(proxy.upstreamCount('POST', '/v1/customers')).toBe(1);
  });

  it('answers 409 idempotency_key_in_use while the first request with the key is still running', async () => {
    const stripe = stripeVia(proxy.port);
    let held!: () => void;
    const isHeld = new Promise<void>((resolve) => { held = resolve; });
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    proxy.inject({ method: 'POST', path: '/v1/payment_intents', hold: () => { held(); return released; } });

    const first = charge(stripe, 'pay-concurrent');
    await isHeld;
    const error = await failure(charge(stripe, 'pay-concurrent'));
    expect(error.statusCode).toBe(409);
    expect(error.code).toBe('idempotency_key_in_use');
    release();
    const intent = await first;
    expect(intent.id).toMatch(/^pi_/);
    expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
  });

  describe('each injected fault surfaces in stripe-node as Stripe would raise it', () => {
    const cases: Array<{ rule: FaultAction & { times?: number }; errorClass: typeof Stripe.errors.StripeError;
      statusCode: number | undefined; code?: string; declineCode?: string; attempts: number }> = [
      { rule: { error: 'card_declined' }, errorClass: Stripe.errors.StripeCardError, statusCode: 402,
        code: 'card_declined', declineCode: 'generic_decline', attempts: 1 },
      { rule: { error: 'authentication_required' }, errorClass: Stripe.errors.StripeCardError, statusCode: 402,
        code: 'authentication_required', declineCode: 'authentication_required', attempts: 1 },
      { rule: { error: 'rate_limit' }, errorClass: Stripe.errors.StripeRateLimitError, statusCode: 429, code: 'rate_limit', attempts: 1 },
      { rule: { error: 'api_error' }, errorClass: Stripe.errors.StripeAPIError, statusCode: 500, attempts: 1 },
      // stripe-node retries a closed connection once even with maxNetworkRetries 0: two resets to fail.
      { rule: { reset: 'before', times: 2 }, errorClass: Stripe.errors.StripeConnectionError, statusCode: undefined, attempts: 2 },
    ];
    it.each(cases)('$rule', async ({ rule, errorClass, statusCode, code, declineCode, attempts }) => {
      const injected = proxy.inject({ method: 'POST', path: '/v1/payment_intents', ...rule });
      const error = await failure(charge(stripeVia(proxy.port), 'pay-fault'));
      expect(error).toBeInstanceOf(errorClass);
      expect(error.statusCode).toBe(statusCode);
      if (code) expect(error.code).toBe(code);
      if (declineCode) expect(error.decline_code).toBe(declineCode);
      expect(injected.remaining).toBe(0);
      expect(proxy.countByKey('pay-fault')).toBe(attempts);
      expect(proxy.upstreamCount('POST', '/v1/payment_intents')).toBe(0);
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(0);
    });

    it('a decline is Stripe\'s answer, so a retry with the same key replays it; a new key charges', async () => {
      const stripe = stripeVia(proxy.port);
      proxy.inject({ method: 'POST', path: '/v1/payment_intents', error: 'card_declined' });
      await failure(charge(stripe, 'pay-declined'));
      const replayed = await failure(charge(stripe, 'pay-declined'));
      expect(replayed).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(proxy.requests.at(-1)?.replayed).toBe(true);
      await charge(stripe, 'pay-declined-attempt-2');
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
    });
  });

  describe("reset after: charged, but the caller never heard", () => {
    it('fails the caller while upstream ran once; the caller\'s retry with the key is replayed', async () => {
      const stripe = stripeVia(proxy.port);
      proxy.inject({ method: 'POST', path: '/v1/payment_intents', reset: 'after', times: 2 });
      const error = await failure(charge(stripe, 'pay-lost'));
      expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(proxy.upstreamCount('POST', '/v1/payment_intents')).toBe(1);
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
      const chargedId = idOf(proxy.requests[0]?.responseBody);

      const retried = await charge(stripe, 'pay-lost');
      expect(retried.id).toBe(chargedId);
      expect(retried.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(proxy.countByKey('pay-lost')).toBe(3);
      expect(proxy.upstreamCount('POST', '/v1/payment_intents')).toBe(1);
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
    });

    it('a single dropped answer is absorbed by stripe-node\'s own reconnect retry, via the replay', async () => {
      proxy.inject({ method: 'POST', path: '/v1/payment_intents', reset: 'after' });
      const intent = await charge(stripeVia(proxy.port, 0), 'pay-once');
      expect(intent.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(proxy.requests.map((r) => [r.dropped, r.replayed])).toEqual([[true, false], [false, true]]);
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
    });
  });

  describe('stripe-node retries (maxNetworkRetries: 2) under one key give one effective charge', () => {
    const cases: Array<{ rule: FaultAction & { times?: number }; attempts: number; upstream: number }> = [
      { rule: { error: 'api_error' }, attempts: 2, upstream: 1 },
      { rule: { error: 'api_error', times: 2 }, attempts: 3, upstream: 1 },
      { rule: { reset: 'before', times: 2 }, attempts: 3, upstream: 1 },
      { rule: { reset: 'after', times: 2 }, attempts: 3, upstream: 1 },
    ];
    it.each(cases)('$rule', async ({ rule, attempts, upstream }) => {
      proxy.inject({ method: 'POST', path: '/v1/payment_intents', ...rule });
      const intent = await charge(stripeVia(proxy.port, 2));
      const key = intent.lastResponse.idempotencyKey;
      expect(key).toMatch(/^stripe-node-retry-/);
      expect(proxy.countByKey(key ?? '')).toBe(attempts);
      expect(proxy.upstreamCount('POST', '/v1/payment_intents')).toBe(upstream);
      expect(proxy.effective('POST', '/v1/payment_intents')).toBe(1);
      expect(proxy.requests.filter((r) => r.effective).map((r) => idOf(r.responseBody))).toEqual([intent.id]);
    });
  });

  it('respond rewrites a static fixture, and the rewritten answer is what a retry replays', async () => {
    const stripe = stripeVia(proxy.port);
    const untouched = await stripe.invoices.pay('in_123');
    expect(untouched.status).toBe('draft'); // stripe-mock's fixture, whatever the call did

    proxy.inject({
      method: 'POST',
      path: /^\/v1\/invoices\/[^/]+\/pay$/,
      respond: ({ upstream }) => ({ status: 200, json: { ...(upstream.json as Record<string, unknown>), status: 'paid' } }),
    });
    const paid = await stripe.invoices.pay('in_123', {}, { idempotencyKey: 'pay-in_123' });
    expect(paid.status).toBe('paid');
    expect(paid.id).toBe('in_123');
    const replayed = await stripe.invoices.pay('in_123', {}, { idempotencyKey: 'pay-in_123' });
    expect(replayed.status).toBe('paid');
    expect(proxy.effective('POST', /\/pay$/)).toBe(2); // the un-keyed first call and the keyed one
    expect(proxy.requests.at(-2)?.faults).toEqual(['respond']);
  });
});
