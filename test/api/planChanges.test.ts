/** Plan changes through the real API and workflow (dev server, PostgreSQL), with imported periods. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

async function customer(plan: string, startedAgoMs?: number, used = 0): Promise<string> {
  const id = `pc-${randomUUID().slice(0, 8)}`;
  const periodStart = startedAgoMs === undefined ? undefined : new Date(Date.now() - startedAgoMs).toISOString();
  const res = await api.request('POST', '/v1/customers', { body: { id, name: 'Change Co', email: 'c@change.test', plan, ...(periodStart ? { periodStart } : {}) } });
  expect(res.status).toBe(201);
  if (used > 0) {
    const usage = await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'api_calls', quantity: used, idempotencyKey: 'so-far' } });
    expect(usage.status).toBe(200);
  }
  return id;
}
const change = (id: string, body: Record<string, unknown>) => api.request('POST', `/v1/customers/${id}/subscription/change`, { body });
const card = async (id: string) => (await api.request('GET', `/v1/customers/${id}/subscription`)).body;

describe('downgrade: the PRODUCT.md worked example (Pro → Basic with 5,000 used)', () => {
  it('4 days in (early on day 5) it is refused with the allowance and the usage', async () => {
    const id = await customer('pro', 4 * DAY_MS + 60 * 60_000, 5_000);
    const preview = await api.request('GET', `/v1/customers/${id}/subscription/change-preview?plan=basic`);
    expect(preview.body).toMatchObject({ allowed: false, refusal: { code: 'usage_exceeds_downgrade_allowance', details: { used: 5000, targetLimit: 30000 } } });
    const res = await change(id, { plan: 'basic' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('usage_exceeds_downgrade_allowance');
    expect(res.body.error.details).toMatchObject({ metric: 'api_calls', used: 5000, targetLimit: 30000 });
    expect(res.body.error.details.allowance).toBeGreaterThanOrEqual(4_400);
    expect(res.body.error.details.allowance).toBeLessThan(5_000);
    expect((await card(id)).plan.id).toBe('pro');
  });

  it('14 days in it is allowed: the limit drops at once and the unused remainder is credited', async () => {
    const id = await customer('pro', 14 * DAY_MS, 5_000);
    const res = await change(id, { plan: 'basic' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'downgrade', effective: 'immediate', charged: { amount: '0.00' }, credited: { amount: '10.67' }, invoiceNumber: null });
    const after = await card(id);
    expect(after).toMatchObject({ plan: { id: 'basic' }, creditOwed: { amount: '10.67' }, downgradesThisCycle: 1 });
    expect(after.usage[0]).toMatchObject({ used: 5000, limit: 30000 });
  });

  it('the credit owed then pays an upgrade: the preview shows what it applies and charges exactly what the change does', async () => {
    const id = await customer('pro', 14 * DAY_MS, 5_000);
    expect((await change(id, { plan: 'basic' })).body.change.credited).toMatchObject({ amount: '10.67' });
    // Back to Pro: 16 of 30 days at $20 more = $10.67, all paid by the $10.67 owed.
    const preview = await api.request('GET', `/v1/customers/${id}/subscription/change-preview?plan=pro`);
    expect(preview.body).toMatchObject({ allowed: true, kind: 'upgrade', charged: { amount: '0.00' }, creditApplied: { amount: '10.67' } });
    expect(preview.body.lines.at(-1)).toMatchObject({ kind: 'credit', amount: { amount: '-10.67' } });
    // To Enterprise: $37.33 for the rest of the period, less the $10.67 owed.
    const enterprise = await api.request('GET', `/v1/customers/${id}/subscription/change-preview?plan=enterprise`);
    expect(enterprise.body).toMatchObject({ allowed: true, charged: { amount: '37.33' }, creditApplied: { amount: '10.67' } });
    const res = await change(id, { plan: 'enterprise' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ charged: enterprise.body.charged, creditApplied: enterprise.body.creditApplied });
    expect((await card(id)).creditOwed).toMatchObject({ amount: '0.00' });
  });
});

describe('the rules around downgrades', () => {
  it('a second downgrade in the same cycle is refused, and allowed again after renewal', async () => {
    const id = await customer('pro', 30 * DAY_MS - 6_000);
    const first = await change(id, { plan: 'basic' });
    expect(first.status).toBe(200);
    const second = await change(id, { plan: 'free' });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('downgrade_limit_reached');
    const renewed = await eventually(async () => {
      const c = await card(id);
      return c.downgradesThisCycle === 0 && c.plan.id === 'basic' ? c : undefined;
    }, 30_000);
    expect(renewed.creditOwed.amount).toBe('0.00');
    const again = await change(id, { plan: 'free' });
    expect(again.status).toBe(200);
    expect(again.body.change.kind).toBe('downgrade');
  });

  it('plan changes are refused while a cancellation is scheduled, and allowed after reactivating', async () => {
    const id = await customer('pro');
    expect((await api.request('POST', `/v1/customers/${id}/subscription/cancel`)).status).toBe(200);
    const refused = await change(id, { plan: 'enterprise' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('cancellation_scheduled');
    expect(refused.body.error.message).toMatch(/reactivate/i);
    expect((await api.request('POST', `/v1/customers/${id}/subscription/reactivate`)).status).toBe(200);
    expect((await change(id, { plan: 'enterprise' })).status).toBe(200);
  });

  it('two downgrades at once: exactly one succeeds', async () => {
    const id = await customer('enterprise');
    const results = await Promise.all(Array.from({ length: 5 }, () => change(id, { plan: 'pro' })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(4);
    expect((await card(id)).downgradesThisCycle).toBe(1);
  });
});

describe('upgrade', () => {
  it('raises the limit at once: a blocked Free customer is allowed immediately; the prorated price is invoiced', async () => {
    const id = await customer('free', 15 * DAY_MS, 1_000);
    const blocked = await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'api_calls', quantity: 1, idempotencyKey: 'next' } });
    expect(blocked.status).toBe(429);

    const preview = await api.request('GET', `/v1/customers/${id}/subscription/change-preview?plan=basic`);
    expect(preview.body).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate', charged: { amount: '5.00' } });
    expect((await card(id)).plan.id).toBe('free'); // the preview changed nothing

    const res = await change(id, { plan: 'basic' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'upgrade', charged: { amount: '5.00', currency: 'USD' } });
    expect(res.body.change.invoiceNumber).toMatch(/^INV-/);
    expect(res.body.subscription.usage[0]).toMatchObject({ used: 1000, limit: 30000, blocked: false });

    const allowed = await api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'api_calls', quantity: 1, idempotencyKey: 'next' } });
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ used: 1001, limit: 30000 });

    const invoices = await api.request('GET', `/v1/customers/${id}/invoices`);
    expect(invoices.body.data[0]).toMatchObject({ reason: 'plan_change', total: { amount: '5.00' }, lines: [{ kind: 'proration', amount: { amount: '5.00' } }] });
  });

  it('monthly → yearly is prorated and moves the period to a year', async () => {
    const id = await customer('pro', 10 * DAY_MS);
    const res = await change(id, { interval: 'yearly' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'interval_change', charged: { amount: '260.00' } }); // $288 × 350/360 − $30 × 20/30
    const c = await card(id);
    expect(Date.parse(c.currentPeriod.end) - Date.parse(c.currentPeriod.start)).toBe(360 * DAY_MS);
  });
});

describe('a retried request', () => {
  /** As if the API process died after the workflow answered but before the answer was stored. */
  const forgetAnswer = (key: string) => api.database.db.$executeRaw`
    UPDATE idempotency_records SET status = NULL, response = NULL, completed_at = NULL, claimed_at = now() - interval '2 minutes' WHERE key = ${key}`;

  it('with the same Idempotency-Key gets the first answer from the workflow when the API lost it', async () => {
    const id = await customer('basic', 10 * DAY_MS);
    const key = `retry-${randomUUID()}`;
    const first = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' }, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(first.body.change).toMatchObject({ kind: 'upgrade', charged: { amount: '13.33' } });
    expect(await forgetAnswer(key)).toBe(1);
    const retried = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' }, headers: { 'idempotency-key': key } });
    expect(retried.status).toBe(200);
    expect(retried.body.change).toEqual(first.body.change);
    expect(await api.database.db.invoice.count({ where: { customerId: id, reason: 'plan_change' } })).toBe(1);
    // Without the key, the same body is a new request: the plan is Pro already.
    const fresh = await change(id, { plan: 'pro' });
    expect(fresh.status).toBe(409);
    expect(fresh.body.error.code).toBe('no_change');
  });

  it('gets the first answer even after the subscription moved to its next run, and a later change is not undone', async () => {
    const id = await customer('pro', 30 * DAY_MS - 3_000); // renews (continue-as-new) in 3 s
    const key = `retry-${randomUUID()}`;
    const first = await api.request('POST', `/v1/customers/${id}/subscription/cancel`, { headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('cancel_scheduled');
    expect((await api.request('POST', `/v1/customers/${id}/subscription/reactivate`)).status).toBe(200);
    // The renewal keeps Pro (reactivated) and starts the next run.
    await eventually(async () => (await card(id)).currentPeriod.start !== first.body.currentPeriod.start, 30_000);
    await forgetAnswer(key);
    const retried = await api.request('POST', `/v1/customers/${id}/subscription/cancel`, { headers: { 'idempotency-key': key } });
    expect(retried.status).toBe(200);
    expect(retried.body.status).toBe('cancel_scheduled'); // the first answer…
    expect((await card(id)).status).toBe('active'); // …and nothing applied again
  });

  it('after a 5xx the same key continues the same operation; after 24 hours the key names a new one', async () => {
    const id = await customer('pro');
    const key = `retry-${randomUUID()}`;
    expect((await api.request('POST', `/v1/customers/${id}/subscription/cancel`, { headers: { 'idempotency-key': key } })).status).toBe(200);
    // A 5xx releases the record (claimed_at NULL) and keeps its operation.
    await api.database.db.$executeRaw`UPDATE idempotency_records SET status = NULL, response = NULL, completed_at = NULL, claimed_at = NULL WHERE key = ${key}`;
    const retried = await api.request('POST', `/v1/customers/${id}/subscription/cancel`, { headers: { 'idempotency-key': key } });
    expect(retried.status).toBe(200);
    // A day later the record is gone: the key is a new request, refused on today's state.
    await api.database.db.$executeRaw`UPDATE idempotency_records SET created_at = now() - interval '25 hours' WHERE key = ${key}`;
    const reused = await api.request('POST', `/v1/customers/${id}/subscription/cancel`, { headers: { 'idempotency-key': key } });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('cancellation_already_scheduled');
  });
});

describe('bad change requests', () => {
  it.each([
    [{}, 400, 'validation_failed'],
    [{ plan: 'platinum' }, 422, 'unknown_plan'],
    [{ seats: 3 }, 422, 'invalid_seats'],
    [{ plan: 'pro' }, 409, 'no_change'],
    [{ interval: 'weekly' }, 400, 'validation_failed'],
  ])('%j → %i %s and nothing changes', async (body, status, code) => {
    const id = await customer('pro');
    const res = await change(id, body);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(await card(id)).toMatchObject({ plan: { id: 'pro' }, interval: 'monthly', seats: 1 });
  });
});
