/**
 * Usage while a subscription is past due follows the catalog (payments.dunning.usageWhilePastDue):
 * `refuse` answers 402 payment_past_due and records nothing; the default `allow` counts as usual.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';

const refusing = { ...loadCatalog(), payments: { dunning: { usageWhilePastDue: 'refuse' as const } } };
let refuse: ApiHarness;
let allow: ApiHarness;

beforeAll(async () => {
  [refuse, allow] = await Promise.all([startApiHarness({ catalog: refusing }), startApiHarness()]);
});
afterAll(async () => {
  await Promise.all([refuse?.close(), allow?.close()]);
});

/** A customer whose read model says past due (as the workflow writes it when a renewal payment fails). */
async function pastDueCustomer(api: ApiHarness): Promise<string> {
  const id = `due-${randomUUID().slice(0, 8)}`;
  const periodStart = new Date(Date.now() - 24 * 3_600_000).toISOString();
  expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Due Co', email: 'due@acme.test', plan: 'basic', periodStart } })).status).toBe(201);
  await api.database.db.subscription.update({ where: { customerId: id }, data: { status: 'past_due' } });
  return id;
}

const event = (customerId: string, key: string) => ({ customerId, metric: 'api_calls', quantity: 1, idempotencyKey: key });

describe('usage while past due', () => {
  it('refused with 402 payment_past_due when the catalog says refuse, and nothing is recorded', async () => {
    const id = await pastDueCustomer(refuse);
    const single = await refuse.request('POST', '/v1/usage/events', { body: event(id, 'k1') });
    expect([single.status, single.body.error.code]).toEqual([402, 'payment_past_due']);
    const batch = await refuse.request('POST', '/v1/usage/events/batch', { body: { events: [event(id, 'k2'), event(id, 'k3')] } });
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ counted: 0, rejected: 2, results: [{ status: 'rejected', code: 'payment_past_due' }, { status: 'rejected', code: 'payment_past_due' }] });
    const check = await refuse.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls&quantity=1`);
    expect(check.body.allowed).toBe(false);
    expect(await refuse.database.db.usageEvent.count({ where: { customerId: id } })).toBe(0);
  });

  it('counted as usual by default (allow)', async () => {
    const id = await pastDueCustomer(allow);
    const single = await allow.request('POST', '/v1/usage/events', { body: event(id, 'k1') });
    expect([single.status, single.body.status]).toEqual([200, 'counted']);
    expect((await allow.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls&quantity=1`)).body.allowed).toBe(true);
  });
});
