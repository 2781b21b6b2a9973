/**
 * Checkout in setup mode and the billing portal (api/routes/paymentMethodRoutes.ts) through the
 * API, against stripe-mock behind the fault proxy, so every Stripe request is checked against
 * Stripe's API description and retries can be counted. No worker runs: the routes create the
 * Stripe customer themselves, with the key the payment activities use.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { createApp } from '../../api/createApp.js';
import { returnUrlsOf, type ReturnUrls } from '../../api/payments/returnUrls.js';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';

const SESSIONS = '/v1/checkout/sessions';
const PORTAL = '/v1/billing_portal/sessions';
/** What createApp uses when given no return URLs (the harness gives none). */
const DEFAULT_SUCCESS = 'http://127.0.0.1:3000/checkout/complete?session_id={CHECKOUT_SESSION_ID}';
const DEFAULT_CANCEL = 'http://127.0.0.1:3000/checkout/cancelled';
const DEFAULT_PORTAL_RETURN = 'http://127.0.0.1:3000/checkout/complete';

let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
let api: ApiHarness;
let stripe: StripePaymentProvider;
const extraServers: http.Server[] = [];

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  stripe = new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false });
  api = await startApiHarness({ withWorker: false, payments: stripe });
});
afterAll(async () => {
  await Promise.all(extraServers.map((server) => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  })));
  await api?.close();
  await proxy?.close();
  await mock?.stop();
});
// Each test counts its own Stripe requests (and gets Stripe's idempotency memory fresh).
beforeEach(() => proxy.reset());

const newId = () => `pm-${randomUUID().slice(0, 8)}`;

/** An imported customer (no first invoice to collect: this file runs no worker). */
async function createCustomer(id = newId()): Promise<string> {
  const periodStart = new Date(Date.now() - 24 * 3_600_000).toISOString();
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Acme Inc', email: 'billing@acme.test', plan: 'pro', periodStart } });
  expect(created.status).toBe(201);
  return id;
}

const checkout = (id: string, body?: unknown, headers?: Record<string, string>) => api.request('POST', `/v1/customers/${id}/payment-method/checkout`, { body, headers });
const portal = (id: string, body?: unknown) => api.request('POST', `/v1/customers/${id}/billing-portal`, { body });
const stripeCalls = (path: string) => proxy.requests.filter((r) => r.method === 'POST' && r.path === path);

/** Another app on the harness's database and Temporal, with its own provider and return URLs. */
async function otherApp(options: { payments?: PaymentProvider; returnUrls?: ReturnUrls }): Promise<string> {
  const app = createApp({
    db: api.database.db,
    temporal: api.temporal,
    taskQueue: api.taskQueue,
    catalog: api.catalog,
    operatorKey: OPERATOR_KEY,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  const server = http.createServer(app);
  extraServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(baseUrl: string, path: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() as Record<string, any> };
}

describe('POST /v1/customers/{id}/payment-method/checkout', () => {
  it('opens a setup-mode Checkout page for the customer\'s Stripe customer, created once with the activities\' key', async () => {
    const id = await createCustomer();
    const before = Date.now();
    const answer = await checkout(id);
    expect(answer.status).toBe(201);
    expect(Object.keys(answer.body).sort()).toEqual(['expiresAt', 'sessionId', 'url']);

    const customer = await api.database.db.customer.findUniqueOrThrow({ where: { id } });
    expect(customer.providerCustomerId).toMatch(/^cus_/);
    const created = stripeCalls('/v1/customers');
    expect(created).toHaveLength(1);
    expect(created[0]!.idempotencyKey).toBe(`tollgate:customer:${id}:create`);
    expect(created[0]!.params).toMatchObject({ 'metadata[tollgate_customer_id]': id, email: 'billing@acme.test', name: 'Acme Inc' });

    const sessions = stripeCalls(SESSIONS);
    expect(sessions).toHaveLength(1);
    const [session] = sessions;
    expect(session!.idempotencyKey).toMatch(new RegExp(`^tollgate:customer:${id}:setup-checkout:[0-9a-f-]{36}$`));
    expect(session!.params).toMatchObject({
      mode: 'setup',
      customer: customer.providerCustomerId!,
      currency: 'usd',
      'metadata[tollgate_customer_id]': id,
      'setup_intent_data[metadata][tollgate_customer_id]': id,
      success_url: DEFAULT_SUCCESS,
      cancel_url: DEFAULT_CANCEL,
    });
    // Open for an hour.
    const expiresAt = Number(session!.params.expires_at) * 1000;
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor((before + 3_600_000) / 1000) * 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);

    // The answer is Stripe's session.
    const stripeSession = session!.responseBody as { id: string; url: string; expires_at: number };
    expect(answer.body).toEqual({ url: stripeSession.url, sessionId: stripeSession.id, expiresAt: new Date(stripeSession.expires_at * 1000).toISOString() });

    // A second page reuses the saved Stripe customer.
    expect((await checkout(id)).status).toBe(201);
    expect(stripeCalls('/v1/customers')).toHaveLength(1);
    expect(stripeCalls(SESSIONS)).toHaveLength(2);
  });

  it('sends the customer back to the request\'s URLs when it names them', async () => {
    const id = await createCustomer();
    const successUrl = 'https://app.acme.test/billing/card-saved?session={CHECKOUT_SESSION_ID}&from=tollgate';
    const cancelUrl = 'https://app.acme.test/billing';
    expect((await checkout(id, { successUrl, cancelUrl })).status).toBe(201);
    expect(stripeCalls(SESSIONS)[0]!.params).toMatchObject({ success_url: successUrl, cancel_url: cancelUrl });
    // One of them alone: the other is the default.
    expect((await checkout(id, { cancelUrl })).status).toBe(201);
    expect(stripeCalls(SESSIONS)[1]!.params).toMatchObject({ success_url: DEFAULT_SUCCESS, cancel_url: cancelUrl });
  });

  it('the same Idempotency-Key twice: one Stripe session, the same answer', async () => {
    const id = await createCustomer();
    const headers = { 'idempotency-key': `setup-${randomUUID()}` };
    const first = await checkout(id, {}, headers);
    const second = await checkout(id, {}, headers);
    expect(first.status).toBe(201);
    expect(second).toEqual(first);
    expect(proxy.effective('POST', SESSIONS)).toBe(1);
    const record = await api.database.db.idempotencyRecord.findUniqueOrThrow({ where: { key: headers['idempotency-key'] } });
    expect(stripeCalls(SESSIONS)[0]!.idempotencyKey).toBe(`tollgate:customer:${id}:setup-checkout:${record.operationId}`);
  });

  it('Stripe answering 500 three times is a 503 payment_provider_unavailable; the retry with the same key opens the page', async () => {
    const id = await createCustomer();
    const headers = { 'idempotency-key': `setup-${randomUUID()}` };
    const outage = proxy.inject({ method: 'POST', path: SESSIONS, error: 'api_error', times: 3 });
    const failed = await checkout(id, {}, headers);
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('payment_provider_unavailable');
    expect(outage.fired).toBe(3);
    expect(proxy.effective('POST', SESSIONS)).toBe(0);

    const retried = await checkout(id, {}, headers);
    expect(retried.status).toBe(201);
    expect(proxy.effective('POST', SESSIONS)).toBe(1);
    const keys = new Set(stripeCalls(SESSIONS).map((r) => r.idempotencyKey));
    expect(keys.size).toBe(1);
  });

  it('a session Stripe created but whose answer was lost: the retry gets that same session, not a second one', async () => {
    const id = await createCustomer();
    const headers = { 'idempotency-key': `setup-${randomUUID()}` };
    // Every answer of the first request is lost, stripe-node's own retries included.
    proxy.inject({ method: 'POST', path: SESSIONS, reset: 'after', times: 10 });
    const lost = await checkout(id, {}, headers);
    expect(lost.status).toBe(503);
    expect(lost.body.error.code).toBe('payment_provider_unavailable');
    expect(proxy.upstreamCount('POST', SESSIONS)).toBe(1);
    proxy.clearFaults();

    const retried = await checkout(id, {}, headers);
    expect(retried.status).toBe(201);
    // The retry sent the very same parameters (expiry included) under the same key: Stripe replayed.
    expect(proxy.upstreamCount('POST', SESSIONS)).toBe(1);
    expect(proxy.effective('POST', SESSIONS)).toBe(1);
    const calls = stripeCalls(SESSIONS);
    expect(new Set(calls.map((r) => r.body)).size).toBe(1);
    expect(calls.at(-1)!.replayed).toBe(true);
    expect(retried.body.sessionId).toBe((calls[0]!.responseBody as { id: string }).id);
  });

  it('Stripe refusing the request is a 502 payment_provider_error that does not repeat Stripe\'s message', async () => {
    const id = await createCustomer();
    proxy.inject({
      method: 'POST',
      path: SESSIONS,
      respond: () => ({ status: 400, json: { error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'Secret account detail acct_123' } } }),
    });
    const answer = await checkout(id);
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe('payment_provider_error');
    expect(JSON.stringify(answer.body)).not.toContain('acct_123');
  });

  it('refuses bad bodies with 400 validation_failed, before any Stripe call', async () => {
    const id = await createCustomer();
    const cases: Array<[unknown, string]> = [
      [{ zzz: 1 }, ''],
      [{ successUrl: 'not a url' }, 'successUrl'],
      [{ successUrl: 'javascript:alert(document.cookie)' }, 'successUrl'],
      [{ cancelUrl: 'data:text/html,<script>alert(1)</script>' }, 'cancelUrl'],
      [{ cancelUrl: 'ftp://files.acme.test/' }, 'cancelUrl'],
      [{ successUrl: '/relative/path' }, 'successUrl'],
      [{ successUrl: `https://app.acme.test/${'a'.repeat(2_000)}` }, 'successUrl'],
      [{ successUrl: 'https://app.acme.test/a b' }, 'successUrl'],
      [{ successUrl: 'https://user:secret@app.acme.test/' }, 'successUrl'],
      [{ successUrl: 'https://app.acme.test/{OTHER}' }, 'successUrl'],
      [{ cancelUrl: 'https://app.acme.test/?s={CHECKOUT_SESSION_ID}' }, 'cancelUrl'],
      [{ successUrl: 42 }, 'successUrl'],
      [null, ''],
      [[], ''],
    ];
    for (const [body, path] of cases) {
      const answer = await checkout(id, body);
      expect([answer.status, answer.body.error.code], JSON.stringify(body).slice(0, 80)).toEqual([400, 'validation_failed']);
      expect(answer.body.error.details.issues.map((issue: { path: string }) => issue.path), JSON.stringify(body).slice(0, 80)).toContain(path);
    }
    expect(proxy.requests).toHaveLength(0);
  });

  it('an unknown customer is a 404 customer_not_found, before any Stripe call', async () => {
    const answer = await checkout('nobody-here');
    expect([answer.status, answer.body.error.code]).toEqual([404, 'customer_not_found']);
    expect(proxy.requests).toHaveLength(0);
  });
});

describe('POST /v1/customers/{id}/billing-portal', () => {
  it('answers Stripe\'s portal URL, with the request\'s return URL or the default', async () => {
    const id = await createCustomer();
    const returnUrl = 'https://app.acme.test/settings/billing';
    const answer = await portal(id, { returnUrl });
    expect(answer.status).toBe(201);
    const calls = stripeCalls(PORTAL);
    expect(calls).toHaveLength(1);
    const customer = await api.database.db.customer.findUniqueOrThrow({ where: { id } });
    expect(calls[0]!.params).toMatchObject({ customer: customer.providerCustomerId!, return_url: returnUrl });
    expect(answer.body).toEqual({ url: (calls[0]!.responseBody as { url: string }).url });
    expect(answer.body.url).toMatch(/^https:\/\//);
    expect(stripeCalls('/v1/customers')[0]!.idempotencyKey).toBe(`tollgate:customer:${id}:create`);

    expect((await portal(id)).status).toBe(201);
    expect(stripeCalls(PORTAL)[1]!.params).toMatchObject({ return_url: DEFAULT_PORTAL_RETURN });
  });

  it('refuses bad bodies and unknown customers before any Stripe call; Stripe down is a 503', async () => {
    const id = await createCustomer();
    for (const body of [{ returnUrl: 'javascript:alert(1)' }, { returnUrl: 'nope' }, { returnUrl: 'https://a.test/{CHECKOUT_SESSION_ID}' }, { url: 'https://a.test/' }]) {
      const answer = await portal(id, body);
      expect([answer.status, answer.body.error.code], JSON.stringify(body)).toEqual([400, 'validation_failed']);
    }
    const unknown = await portal('nobody-here');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'customer_not_found']);
    expect(proxy.requests).toHaveLength(0);

    proxy.inject({ method: 'POST', path: PORTAL, error: 'api_error', times: 3 });
    const down = await portal(id);
    expect([down.status, down.body.error.code]).toEqual([503, 'payment_provider_unavailable']);
  });
});

describe('without a payment provider', () => {
  it('both routes answer 404 payments_not_configured (provider absent or `none`), and call nobody', async () => {
    const id = await createCustomer();
    for (const payments of [undefined, new NoPaymentProvider()]) {
      const baseUrl = await otherApp({ payments });
      for (const path of [`/v1/customers/${id}/payment-method/checkout`, `/v1/customers/${id}/billing-portal`]) {
        const answer = await post(baseUrl, path);
        expect([answer.status, answer.body.error.code], path).toEqual([404, 'payments_not_configured']);
      }
    }
    expect(proxy.requests).toHaveLength(0);
  });
});

describe('return URLs', () => {
  it('settings come first, then this API\'s own pages at HOST:PORT', () => {
    expect(returnUrlsOf({ HOST: '127.0.0.1', PORT: 3000 })).toEqual({ checkoutSuccess: DEFAULT_SUCCESS, checkoutCancel: DEFAULT_CANCEL, portalReturn: DEFAULT_PORTAL_RETURN });
    expect(returnUrlsOf({
      HOST: '127.0.0.1',
      PORT: 3000,
      CHECKOUT_SUCCESS_URL: 'https://app.acme.test/done',
      CHECKOUT_CANCEL_URL: 'https://app.acme.test/cancel',
      BILLING_PORTAL_RETURN_URL: 'https://app.acme.test/account',
    })).toEqual({ checkoutSuccess: 'https://app.acme.test/done', checkoutCancel: 'https://app.acme.test/cancel', portalReturn: 'https://app.acme.test/account' });
    expect(returnUrlsOf({ HOST: 'billing.acme.test', PORT: 8080, CHECKOUT_CANCEL_URL: 'https://app.acme.test/cancel' })).toEqual({
      checkoutSuccess: 'http://billing.acme.test:8080/checkout/complete?session_id={CHECKOUT_SESSION_ID}',
      checkoutCancel: 'https://app.acme.test/cancel',
      portalReturn: 'http://billing.acme.test:8080/checkout/complete',
    });
    // A wildcard bind address is not one a browser can open.
    expect(returnUrlsOf({ HOST: '0.0.0.0', PORT: 3000 }).checkoutCancel).toBe('http://127.0.0.1:3000/checkout/cancelled');
    expect(returnUrlsOf({ HOST: '::', PORT: 3000 }).checkoutCancel).toBe('http://[::1]:3000/checkout/cancelled');
    expect(returnUrlsOf({ HOST: 'fd00::7', PORT: 3000 }).checkoutCancel).toBe('http://[fd00::7]:3000/checkout/cancelled');
  });

  it('an app given return URLs from settings sends them to Stripe unless the request names its own', async () => {
    const id = await createCustomer();
    const baseUrl = await otherApp({
      payments: stripe,
      returnUrls: returnUrlsOf({ HOST: '127.0.0.1', PORT: 3000, CHECKOUT_SUCCESS_URL: 'https://app.acme.test/done?cs={CHECKOUT_SESSION_ID}', BILLING_PORTAL_RETURN_URL: 'https://app.acme.test/account' }),
    });
    expect((await post(baseUrl, `/v1/customers/${id}/payment-method/checkout`)).status).toBe(201);
    expect(stripeCalls(SESSIONS)[0]!.params).toMatchObject({ success_url: 'https://app.acme.test/done?cs={CHECKOUT_SESSION_ID}', cancel_url: DEFAULT_CANCEL });
    expect((await post(baseUrl, `/v1/customers/${id}/payment-method/checkout`, { successUrl: 'https://other.acme.test/ok' })).status).toBe(201);
    expect(stripeCalls(SESSIONS)[1]!.params).toMatchObject({ success_url: 'https://other.acme.test/ok' });
    expect((await post(baseUrl, `/v1/customers/${id}/billing-portal`)).status).toBe(201);
    expect(stripeCalls(PORTAL)[0]!.params).toMatchObject({ return_url: 'https://app.acme.test/account' });
  });

  it('the default pages answer 200 HTML without an API key, uncached, showing nothing of the request', async () => {
    for (const path of ['/checkout/complete?session_id=cs_test_secret_123', '/checkout/cancelled']) {
      const response = await fetch(`${api.baseUrl}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      const html = await response.text();
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).not.toContain('cs_test_secret_123');
      expect(html).not.toMatch(/<script/i);
    }
    const head = await fetch(`${api.baseUrl}/checkout/complete`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const wrong = await fetch(`${api.baseUrl}/checkout/complete`, { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
  });
});
