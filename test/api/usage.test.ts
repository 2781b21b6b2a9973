/**
 * Metering through the real API, PostgreSQL and the Temporal dev server: idempotency under
 * concurrency, enforcement at the boundary, Enterprise overage billed at renewal, bad input.
 */
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

async function newCustomer(plan: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = `u-${randomUUID().slice(0, 8)}`;
  const res = await api.request('POST', '/v1/customers', { body: { id, name: 'Usage Co', email: 'ops@usage.test', plan, ...extra } });
  expect(res.status).toBe(201);
  return id;
}

const event = (customerId: string, key: string, quantity = 1, extra: Record<string, unknown> = {}) => ({ customerId, metric: 'api_calls', quantity, idempotencyKey: key, ...extra });

async function used(customerId: string): Promise<number> {
  const card = await api.request('GET', `/v1/customers/${customerId}/subscription`);
  return card.body.usage[0].used;
}

const eventCount = (customerId: string) => api.database.db.usageEvent.count({ where: { customerId } });

describe('idempotency under concurrency', () => {
  it('the same batch sent by 20 concurrent requests counts once', async () => {
    const id = await newCustomer('pro');
    const events = Array.from({ length: 200 }, (_, i) => event(id, `same-${i}`, 3));
    const responses = await Promise.all(Array.from({ length: 20 }, () => api.request('POST', '/v1/usage/events/batch', { body: { events } })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.reduce((n, r) => n + r.body.counted, 0)).toBe(200);
    expect(responses.reduce((n, r) => n + r.body.duplicates, 0)).toBe(19 * 200);
    expect(await used(id)).toBe(600);
    expect(await eventCount(id)).toBe(200);
  });

  it('thousands of distinct concurrent events all count, none lost', async () => {
    const ids = [await newCustomer('enterprise'), await newCustomer('enterprise')];
    const singles = Array.from({ length: 2000 }, (_, i) => event(ids[i % 2]!, `distinct-${i}`));
    const results: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < singles.length) {
        const body = singles[next++]!;
        results.push((await api.request('POST', '/v1/usage/events', { body })).status);
      }
    }));
    expect(results.filter((s) => s === 200)).toHaveLength(2000);
    expect(await used(ids[0]!)).toBe(1000);
    expect(await used(ids[1]!)).toBe(1000);
    expect((await eventCount(ids[0]!)) + (await eventCount(ids[1]!))).toBe(2000);
  });

  it('a repeated single event answers duplicate and does not count again', async () => {
    const id = await newCustomer('basic');
    const first = await api.request('POST', '/v1/usage/events', { body: event(id, 'once', 7) });
    const second = await api.request('POST', '/v1/usage/events', { body: event(id, 'once', 7) });
    expect(first.body).toMatchObject({ status: 'counted', allowed: true, used: 7, limit: 30000, remaining: 29993 });
    expect(second.body).toMatchObject({ status: 'duplicate', allowed: true, used: 7 });
  });
});

describe('enforcement', () => {
  it('a Free customer\'s 1,000th call is allowed, the 1,001st refused and not counted', async () => {
    const id = await newCustomer('free');
    const batch = await api.request('POST', '/v1/usage/events/batch', { body: { events: Array.from({ length: 999 }, (_, i) => event(id, `f-${i}`)) } });
    expect(batch.body.counted).toBe(999);
    const thousandth = await api.request('POST', '/v1/usage/events', { body: event(id, 'f-999') });
    expect(thousandth.status).toBe(200);
    expect(thousandth.body).toMatchObject({ allowed: true, used: 1000, remaining: 0 });
    const refused = await api.request('POST', '/v1/usage/events', { body: event(id, 'f-1000') });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'usage_limit_reached', details: { allowed: false, used: 1000, limit: 1000 } });
    expect(await eventCount(id)).toBe(1000);

    const check = await api.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls`);
    expect(check.body).toMatchObject({ allowed: false, used: 1000, limit: 1000, remaining: 0 });
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body.usage[0]).toMatchObject({ used: 1000, limit: 1000, percent: 100, remaining: 0, blocked: true });

    // A refused key is not remembered: once allowed (after an upgrade, say) it can still count.
    const again = await api.request('POST', '/v1/usage/events', { body: event(id, 'f-1000') });
    expect(again.status).toBe(429);
  });

  it('in a batch, refused events are reported one by one and the rest count', async () => {
    const id = await newCustomer('free');
    const res = await api.request('POST', '/v1/usage/events/batch', { body: { events: [event(id, 'a', 600), event(id, 'b', 600), event(id, 'c', 400)] } });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['counted', 'refused', 'counted']);
    expect(res.body.results[1]).toMatchObject({ allowed: false, code: 'usage_limit_reached' });
    expect(await used(id)).toBe(1000);
  });

  it('the check endpoint answers without counting', async () => {
    const id = await newCustomer('basic');
    const res = await api.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls&quantity=30000`);
    expect(res.body).toMatchObject({ allowed: true, used: 0, limit: 30000 });
    expect((await api.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls&quantity=30001`)).body.allowed).toBe(false);
    expect(await used(id)).toBe(0);
  });
});

describe('Enterprise overage and the cycle end', () => {
  it('goes past 1,000,000 and the overage is billed on the next invoice with the exact amount; counters restart', async () => {
    const periodStart = Date.now() - 30 * DAY_MS + 5_000;
    const id = await newCustomer('enterprise', { periodStart: new Date(periodStart).toISOString() });
    const at = new Date(periodStart + 1_000).toISOString();
    const res = await api.request('POST', '/v1/usage/events/batch', { body: { events: [event(id, 'big', 1_000_000, { timestamp: at }), event(id, 'over', 10_000, { timestamp: at })] } });
    expect(res.body.counted).toBe(2);
    expect(res.body.results[1]).toMatchObject({ allowed: true, used: 1_010_000, overage: 10_000 });
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body.usage[0]).toMatchObject({ used: 1_010_000, overage: 10_000, remaining: 0, blocked: false, percent: 101 });

    const invoice = await eventually(async () => {
      const list = await api.request('GET', `/v1/customers/${id}/invoices`);
      return list.body.data[0];
    }, 30_000);
    expect(invoice).toMatchObject({ reason: 'renewal', total: { amount: '105.00', currency: 'USD' } });
    expect(invoice.lines).toHaveLength(2);
    expect(invoice.lines[1]).toMatchObject({ kind: 'overage', quantity: '10000', unitPrice: { amount: '0.0005' }, amount: { amount: '5.00' } });
    expect(Date.parse(invoice.lines[1].period.start)).toBe(periodStart);

    const overage = await api.request('GET', `/v1/customers/${id}/overage`);
    expect(overage.body.data).toEqual([expect.objectContaining({ metric: 'api_calls', used: 1_010_000, included: 1_000_000, overage: 10_000, charge: { amount: '5.00', currency: 'USD' }, invoiceNumber: invoice.number })]);

    const after = await eventually(async () => {
      const c = await api.request('GET', `/v1/customers/${id}/subscription`);
      return Date.parse(c.body.currentCycle.start) === periodStart + 30 * DAY_MS ? c.body : undefined;
    });
    expect(after.usage[0]).toMatchObject({ used: 0, overage: 0 });

    // Late usage for the closed cycle is refused, never added elsewhere.
    const late = await api.request('POST', '/v1/usage/events', { body: event(id, 'late', 5, { timestamp: at }) });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('period_closed');
    expect((await api.request('POST', '/v1/usage/events', { body: event(id, 'fresh', 5) })).body).toMatchObject({ status: 'counted', used: 5 });
  });
});

describe('bad input records nothing', () => {
  const cases: Array<[string, (id: string) => { path: string; body?: unknown; rawBody?: string; auth?: null }, number, string]> = [
    ['an unknown customer', () => ({ path: '/v1/usage/events', body: event('nobody-here', 'k') }), 404, 'customer_not_found'],
    ['an unknown metric', (id) => ({ path: '/v1/usage/events', body: { ...event(id, 'k'), metric: 'gpu_hours' } }), 422, 'unknown_metric'],
    ['a zero quantity', (id) => ({ path: '/v1/usage/events', body: event(id, 'k', 0) }), 400, 'validation_failed'],
    ['a negative quantity', (id) => ({ path: '/v1/usage/events', body: event(id, 'k', -5) }), 400, 'validation_failed'],
    ['a fractional quantity', (id) => ({ path: '/v1/usage/events', body: event(id, 'k', 1.5) }), 400, 'validation_failed'],
    ['a missing idempotency key', (id) => ({ path: '/v1/usage/events', body: { customerId: id, metric: 'api_calls', quantity: 1 } }), 400, 'validation_failed'],
    ['a timestamp in the future', (id) => ({ path: '/v1/usage/events', body: event(id, 'k', 1, { timestamp: new Date(Date.now() + DAY_MS).toISOString() }) }), 422, 'invalid_timestamp'],
    ['malformed JSON', () => ({ path: '/v1/usage/events', rawBody: '{"customerId":' }), 400, 'invalid_json'],
    ['missing auth', (id) => ({ path: '/v1/usage/events', body: event(id, 'k'), auth: null }), 401, 'unauthorized'],
    ['an oversized batch', (id) => ({ path: '/v1/usage/events/batch', body: { events: Array.from({ length: 1001 }, (_, i) => event(id, `o-${i}`)) } }), 413, 'batch_too_large'],
    ['an empty batch', () => ({ path: '/v1/usage/events/batch', body: { events: [] } }), 400, 'validation_failed'],
    ['a batch with one bad quantity', (id) => ({ path: '/v1/usage/events/batch', body: { events: [event(id, 'ok'), event(id, 'bad', -1)] } }), 400, 'validation_failed'],
    ['a batch naming an unknown customer', (id) => ({ path: '/v1/usage/events/batch', body: { events: [event(id, 'ok'), event('nobody-here', 'x')] } }), 404, 'customer_not_found'],
    ['a batch with an unknown metric', (id) => ({ path: '/v1/usage/events/batch', body: { events: [event(id, 'ok'), { ...event(id, 'x'), metric: 'gpu_hours' }] } }), 422, 'unknown_metric'],
  ];
  for (const [what, make, status, code] of cases) {
    it(`${what} → ${status} ${code}`, async () => {
      const id = await newCustomer('pro');
      const { path, ...request } = make(id);
      const res = await api.request('POST', path, request);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      if (code === 'customer_not_found' && path.endsWith('/batch')) expect(res.body.error.details).toEqual({ customerIds: ['nobody-here'] });
      expect(await eventCount(id)).toBe(0);
      expect(await used(id)).toBe(0);
    });
  }
});
