/** The HTTP API against the Temporal dev server and a real PostgreSQL. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { workflowExists as existsOnServer } from '../harness/workflowExists.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

const newId = () => `cus-${randomUUID().slice(0, 8)}`;
const customer = (overrides: Record<string, unknown> = {}) => ({ id: newId(), name: 'Acme Inc', email: 'billing@acme.test', plan: 'pro', ...overrides });

const workflowExists = (customerId: string) => existsOnServer(api.temporal, customerId);

async function expectNothingCreated(customerId: string) {
  expect(await api.database.db.customer.count({ where: { id: customerId } })).toBe(0);
  expect(await api.database.db.subscription.count({ where: { customerId } })).toBe(0);
  expect(await workflowExists(customerId)).toBe(false);
}

describe('POST /v1/customers', () => {
  it('creates the customer, starts a running workflow findable by its search attributes, and invoices the first period', async () => {
    const body = customer();
    const created = await api.request('POST', '/v1/customers', { body });
    expect(created.status).toBe(201);
    expect(created.body.customer).toEqual({ id: body.id, name: 'Acme Inc', email: 'billing@acme.test' });
    expect(created.body.subscription).toMatchObject({
      customerId: body.id,
      plan: { id: 'pro', name: 'Pro', price: { amount: '30.00', currency: 'USD' } },
      interval: 'monthly',
      status: 'active',
      cancelAtPeriodEnd: false,
      creditBalance: { amount: '0.00', currency: 'USD' },
      usage: [{ metric: 'api_calls', used: 0, limit: 300000, percent: 0, remaining: 300000, overage: 0, blocked: false }],
    });
    const { start, end } = created.body.subscription.currentPeriod;
    expect(Date.parse(end) - Date.parse(start)).toBe(30 * DAY_MS);

    const description = await api.temporal.workflow.getHandle(subscriptionWorkflowId(body.id)).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.taskQueue).toBe(api.taskQueue);

    const found = await eventually(async () => {
      const ids: string[] = [];
      for await (const wf of api.temporal.workflow.list({ query: `CustomerId = "${body.id}" AND PlanId = "pro" AND SubscriptionStatus = "active"` })) ids.push(wf.workflowId);
      return ids.length === 1 ? ids : undefined;
    });
    expect(found).toEqual([subscriptionWorkflowId(body.id)]);

    const invoices = await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${body.id}/invoices`);
      return res.body.data.length === 1 ? res.body : undefined;
    });
    expect(invoices.data[0]).toMatchObject({
      status: 'open',
      reason: 'subscription_create',
      total: { amount: '30.00', currency: 'USD' },
      period: { start, end },
      lines: [{ kind: 'plan', quantity: '1', unitPrice: { amount: '30.00' }, amount: { amount: '30.00' } }],
    });
    expect(invoices.data[0].number).toMatch(/^INV-\d{6}$/);
    expect(invoices.hasMore).toBe(false);

    const read = await api.request('GET', `/v1/customers/${body.id}/subscription`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ customerId: body.id, plan: { id: 'pro' }, status: 'active' });
  });

  it('yearly: the first invoice is the yearly price, 20% below 12 months', async () => {
    const body = customer({ plan: 'basic', interval: 'yearly' });
    const created = await api.request('POST', '/v1/customers', { body });
    expect(created.status).toBe(201);
    expect(created.body.subscription.plan.price).toEqual({ amount: '96.00', currency: 'USD' });
    const invoices = await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${body.id}/invoices`);
      return res.body.data.length === 1 ? res.body.data : undefined;
    });
    expect(invoices[0].total.amount).toBe('96.00');
  });

  it('imports a customer whose period ends in a few seconds: no invoice for the imported period, the renewal invoice appears', async () => {
    const periodStart = new Date(Date.now() - 30 * DAY_MS + 3_000).toISOString();
    const body = customer({ plan: 'enterprise', periodStart });
    const created = await api.request('POST', '/v1/customers', { body });
    expect(created.status).toBe(201);
    expect(created.body.subscription.currentPeriod.start).toBe(periodStart);

    const invoices = await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${body.id}/invoices`);
      return res.body.data.length === 1 ? res.body.data : undefined;
    }, 30_000);
    expect(invoices[0]).toMatchObject({ reason: 'renewal', total: { amount: '100.00', currency: 'USD' } });
    expect(Date.parse(invoices[0].period.start)).toBe(Date.parse(periodStart) + 30 * DAY_MS);

    const card = await eventually(async () => {
      const res = await api.request('GET', `/v1/customers/${body.id}/subscription`);
      return res.body.currentPeriod.start !== periodStart ? res.body : undefined;
    });
    expect(Date.parse(card.currentPeriod.start)).toBe(Date.parse(periodStart) + 30 * DAY_MS);
  });

  it('refuses a second customer with the same id (409) and keeps the first', async () => {
    const body = customer();
    expect((await api.request('POST', '/v1/customers', { body })).status).toBe(201);
    const again = await api.request('POST', '/v1/customers', { body: { ...body, plan: 'basic' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('customer_exists');
    expect((await api.request('GET', `/v1/customers/${body.id}/subscription`)).body.plan.id).toBe('pro');
  });

  const badRequests: Array<[string, () => { rawBody?: string; body?: unknown; auth?: string | null; headers?: Record<string, string> }, number, string]> = [
    ['an unknown plan', () => ({ body: customer({ plan: 'platinum' }) }), 422, 'unknown_plan'],
    ['malformed JSON', () => ({ rawBody: '{"id": "x", "plan": ' }), 400, 'invalid_json'],
    ['negative seats', () => ({ body: customer({ seats: -2 }) }), 400, 'validation_failed'],
    ['fractional seats', () => ({ body: customer({ seats: 1.5 }) }), 400, 'validation_failed'],
    ['seats on a plan without seats', () => ({ body: customer({ seats: 3 }) }), 422, 'invalid_seats'],
    ['an unknown field', () => ({ body: customer({ coupon: 'FREE' }) }), 400, 'validation_failed'],
    ['a bad email', () => ({ body: customer({ email: 'not-an-email' }) }), 400, 'validation_failed'],
    ['an unknown interval', () => ({ body: customer({ interval: 'weekly' }) }), 400, 'validation_failed'],
    ['a period start in the future', () => ({ body: customer({ periodStart: new Date(Date.now() + DAY_MS).toISOString() }) }), 422, 'invalid_period_start'],
    ['a period start older than one period', () => ({ body: customer({ periodStart: new Date(Date.now() - 31 * DAY_MS).toISOString() }) }), 422, 'invalid_period_start'],
    ['no body', () => ({}), 400, 'invalid_json'],
    ['a non-JSON content type', () => ({ rawBody: 'id=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'invalid_json'],
    ['missing auth', () => ({ body: customer(), auth: null }), 401, 'unauthorized'],
    ['a wrong API key', () => ({ body: customer(), auth: 'not-the-key' }), 401, 'unauthorized'],
  ];

  for (const [what, make, status, code] of badRequests) {
    it(`rejects ${what} with ${status} ${code} and creates nothing`, async () => {
      const request = make();
      const id = (request.body as { id?: string } | undefined)?.id ?? 'x';
      const res = await api.request('POST', '/v1/customers', request);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(typeof res.body.error.message).toBe('string');
      await expectNothingCreated(id);
    });
  }
});

describe('Idempotency-Key', () => {
  it('a repeated write returns the first answer and does nothing again; another body with the same key is refused', async () => {
    const body = customer();
    const key = `idem-${randomUUID()}`;
    const first = await api.request('POST', '/v1/customers', { body, headers: { 'idempotency-key': key } });
    const again = await api.request('POST', '/v1/customers', { body, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(again).toEqual(first);
    expect(await api.database.db.customer.count({ where: { id: body.id } })).toBe(1);
    const other = await api.request('POST', '/v1/customers', { body: { ...body, plan: 'basic' }, headers: { 'idempotency-key': key } });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');

    const cancelKey = `idem-${randomUUID()}`;
    const cancel = await api.request('POST', `/v1/customers/${body.id}/subscription/cancel`, { headers: { 'idempotency-key': cancelKey } });
    const cancelAgain = await api.request('POST', `/v1/customers/${body.id}/subscription/cancel`, { headers: { 'idempotency-key': cancelKey } });
    expect(cancel.status).toBe(200);
    expect(cancelAgain).toEqual(cancel); // not cancellation_already_scheduled: the first answer is replayed
  });

  it('concurrent repeats: exactly one runs', async () => {
    const body = customer();
    const key = `idem-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 5 }, () => api.request('POST', '/v1/customers', { body, headers: { 'idempotency-key': key } })));
    expect(results.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(results.every((r) => r.status === 201 || (r.status === 409 && r.body.error.code === 'idempotency_request_in_progress'))).toBe(true);
    expect(await api.database.db.customer.count({ where: { id: body.id } })).toBe(1);
  });
});

describe('cancel and reactivate', () => {
  it('schedules a cancellation, refuses a second one, reactivates, and a refused update leaves no history', async () => {
    const body = customer();
    await api.request('POST', '/v1/customers', { body });
    const cancelled = await api.request('POST', `/v1/customers/${body.id}/subscription/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancel_scheduled', cancelAtPeriodEnd: true, plan: { id: 'pro' } });
    expect((await api.request('GET', `/v1/customers/${body.id}/subscription`)).body.status).toBe('cancel_scheduled');

    const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(body.id));
    // Let the workflow go idle (first-period invoice done, no task in flight): only then can a
    // change in history be blamed on the refusal.
    const before = await eventually(async () => {
      const { raw } = await handle.describe();
      if (raw.pendingWorkflowTask || (raw.pendingActivities?.length ?? 0) > 0) return undefined;
      const first = (await handle.fetchHistory()).events?.length;
      await new Promise((r) => setTimeout(r, 200));
      const second = (await handle.fetchHistory()).events?.length;
      return first === second ? second : undefined;
    });
    const twice = await api.request('POST', `/v1/customers/${body.id}/subscription/cancel`);
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: 'cancellation_already_scheduled' });
    expect((await handle.fetchHistory()).events?.length).toBe(before);

    const reactivated = await api.request('POST', `/v1/customers/${body.id}/subscription/reactivate`);
    expect(reactivated.status).toBe(200);
    expect(reactivated.body).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, plan: { id: 'pro' } });
    const again = await api.request('POST', `/v1/customers/${body.id}/subscription/reactivate`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('no_cancellation_scheduled');
    expect((await api.request('GET', `/v1/customers/${body.id}/subscription`)).body.status).toBe('active');
  });

  it('answers 404 for unknown customers', async () => {
    for (const [method, path] of [
      ['GET', '/v1/customers/nobody/subscription'],
      ['POST', '/v1/customers/nobody/subscription/cancel'],
      ['GET', '/v1/customers/nobody/invoices'],
    ] as const) {
      const res = await api.request(method, path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('customer_not_found');
    }
  });
});

describe('service routes', () => {
  it('GET /health reports PostgreSQL and Temporal', async () => {
    const res = await api.request('GET', '/health', { auth: null });
    expect(res).toEqual({ status: 200, body: { status: 'ok', database: 'ok', temporal: 'ok' } });
  });

  it('GET /openapi.json documents every route and the error codes', async () => {
    const res = await api.request('GET', '/openapi.json', { auth: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining([
      '/health', '/v1/customers', '/v1/customers/{customerId}/subscription',
      '/v1/customers/{customerId}/subscription/cancel', '/v1/customers/{customerId}/subscription/reactivate',
      '/v1/customers/{customerId}/invoices',
    ]));
    expect(res.body.components.schemas.CreateCustomer.required).toEqual(expect.arrayContaining(['id', 'name', 'email', 'plan']));
    expect(JSON.stringify(res.body.paths['/v1/customers'].post.responses['422'])).toContain('unknown_plan');
  });

  it('unknown routes answer 404 in the error shape', async () => {
    const res = await api.request('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});
