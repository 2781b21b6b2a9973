/**
 * The billing page's files and the routes it reads (issue 13): public static files under
 * /billing/ with a strict Content-Security-Policy that still lets the page's import map run, the
 * library modules from node_modules, nothing else of the disk, the session's billingPageUrl, and
 * GET …/plans with prices per interval.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness({ withWorker: true });
});
afterAll(async () => {
  await api?.close();
});

const get = (path: string) => fetch(`${api.baseUrl}${path}`, { redirect: 'manual' });

describe('the page\'s files', () => {
  it('/billing/ is served without credentials, with a CSP whose only inline script is the import map, by its hash', async () => {
    const page = await get('/billing/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(importMap).digest('base64')}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    // Every module the import map names is served, as JavaScript.
    for (const url of Object.values(JSON.parse(importMap).imports as Record<string, string>)) {
      const module = await get(url);
      expect(module.status, url).toBe(200);
      expect(module.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect((await module.text()).length).toBeGreaterThan(500);
    }
    expect((await get('/billing/app.js')).status).toBe(200);
  });

  it('/billing redirects to /billing/ and keeps the query', async () => {
    const answer = await get('/billing?checkout=success');
    expect(answer.status).toBe(301);
    expect(answer.headers.get('location')).toBe('/billing/?checkout=success');
  });

  it('nothing else of the disk: missing files, other node_modules and traversal answer 404 JSON', async () => {
    for (const path of ['/billing/missing.js', '/billing/vendor/react.mjs', '/billing/vendor/..%2F..%2Fpackage.json', '/billing/..%2Fapi%2FcreateApp.ts', '/billing/.env']) {
      const answer = await get(path);
      expect(answer.status, path).toBe(404);
      expect(((await answer.json()) as { error: { code: string } }).error.code, path).toBe('not_found');
    }
  });
});

describe('what the page reads', () => {
  it('a session answers the billing page link, the token in the fragment', async () => {
    const id = `bp-${randomUUID().slice(0, 8)}`;
    expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Page Co', email: 'page@example.test', plan: 'basic' } })).status).toBe(201);
    const session = await api.request('POST', `/v1/customers/${id}/sessions`, { body: {} });
    expect(session.status).toBe(201);
    expect(session.body.billingPageUrl).toBe(`/billing/#customer=${id}&token=${session.body.token}`);
  });

  it('GET …/plans: every plan in tier order with monthly and yearly prices (20% off), limits, overage and the current one', async () => {
    const id = `bp-${randomUUID().slice(0, 8)}`;
    expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Page Co', email: 'page@example.test', plan: 'basic', interval: 'yearly' } })).status).toBe(201);
    const session = await api.request('POST', `/v1/customers/${id}/sessions`, { body: {} });
    const plans = await api.request('GET', `/v1/customers/${id}/plans`, { auth: session.body.token });
    expect(plans.status).toBe(200);
    expect(plans.body).toMatchObject({ currency: 'USD', cycleDays: 30, yearlyDiscountPercent: 20, downgradeTiming: 'immediate', current: { plan: 'basic', interval: 'yearly', seats: 1 } });
    expect(plans.body.plans.map((p: { id: string; current: boolean; prices: { monthly: { amount: string }; yearly: { amount: string } } }) => [p.id, p.current, p.prices.monthly.amount, p.prices.yearly.amount])).toEqual([
      ['free', false, '0.00', '0.00'],
      ['basic', true, '10.00', '96.00'],
      ['pro', false, '30.00', '288.00'],
      ['enterprise', false, '100.00', '960.00'],
    ]);
    expect(plans.body.plans[3].limits).toEqual([{ metric: 'api_calls', included: 1_000_000, overLimit: { policy: 'bill', unitPrice: { amount: '0.0005', currency: 'USD' } } }]);
    expect(plans.body.plans[0].limits[0].overLimit).toEqual({ policy: 'reject' });
    expect(plans.body.plans[1].seats).toBeNull();
    expect((await api.request('GET', '/v1/customers/nobody-here/plans')).status).toBe(404);
  });

  it('the usage card prices billed overage so far: 10,000 calls over at $0.0005 → $5.00', async () => {
    const id = `bp-${randomUUID().slice(0, 8)}`;
    expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Big Co', email: 'big@example.test', plan: 'enterprise' } })).status).toBe(201);
    expect((await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'api_calls', quantity: 1_010_000, idempotencyKey: randomUUID() } })).status).toBe(200);
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body.usage[0]).toMatchObject({ overage: 10_000, overLimitPolicy: 'bill', overageCharge: { amount: '5.00', currency: 'USD' } });
    const basic = `bp-${randomUUID().slice(0, 8)}`;
    expect((await api.request('POST', '/v1/customers', { body: { id: basic, name: 'Small Co', email: 'small@example.test', plan: 'basic' } })).status).toBe(201);
    expect((await api.request('GET', `/v1/customers/${basic}/subscription`)).body.usage[0].overageCharge).toBeNull();
  });
});


it('GET /v1/customers/{id}: who the customer is, for the session of that customer only', async () => {
  const id = `bp-${randomUUID().slice(0, 8)}`;
  expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Header Co', email: 'header@example.test', plan: 'free' } })).status).toBe(201);
  const session = await api.request('POST', `/v1/customers/${id}/sessions`, { body: {} });
  const customer = await api.request('GET', `/v1/customers/${id}`, { auth: session.body.token });
  expect(customer).toEqual({ status: 200, body: { id, name: 'Header Co', email: 'header@example.test' } });
  expect((await api.request('GET', '/v1/customers/nobody-here')).status).toBe(404);
});

it('a session rotates itself: a new token with the same expiry, the old one dead at once; two rotations at once leave one', async () => {
  const id = `bp-${randomUUID().slice(0, 8)}`;
  expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Rotate Co', email: 'rotate@example.test', plan: 'free' } })).status).toBe(201);
  const session = await api.request('POST', `/v1/customers/${id}/sessions`, { body: { ttlSeconds: 600 } });
  const rotated = await api.request('POST', `/v1/customers/${id}/sessions/rotate`, { auth: session.body.token });
  expect(rotated.status).toBe(201);
  expect(rotated.body.token).toMatch(/^tg_cs_/);
  expect(rotated.body.token).not.toBe(session.body.token);
  expect(rotated.body.expiresAt).toBe(session.body.expiresAt);
  expect((await api.request('GET', `/v1/customers/${id}`, { auth: rotated.body.token })).status).toBe(200);
  expect((await api.request('GET', `/v1/customers/${id}`, { auth: session.body.token })).status).toBe(401);
  expect((await api.request('POST', `/v1/customers/${id}/sessions/rotate`, { auth: session.body.token })).status).toBe(401);

  const twice = await Promise.all([0, 1].map(() => api.request('POST', `/v1/customers/${id}/sessions/rotate`, { auth: rotated.body.token })));
  expect(twice.map((a) => a.status).sort()).toEqual([201, 401]);
  const live = await api.database.db.customerSession.count({ where: { customerId: id, revokedAt: null } });
  expect(live).toBe(1);

  expect((await api.request('POST', `/v1/customers/${id}/sessions/rotate`)).body.error.code).toBe('not_a_session');
  const fresh = twice.find((a) => a.status === 201)!.body.token as string;
  expect((await api.request('POST', `/v1/customers/${id}/sessions/rotate`, { auth: fresh, headers: { 'idempotency-key': randomUUID() } })).body.error.code).toBe('idempotency_key_not_supported');
  expect((await api.request('POST', '/v1/customers/someone-else/sessions/rotate', { auth: fresh })).status).toBe(403);
});
