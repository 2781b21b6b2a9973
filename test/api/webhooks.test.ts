/**
 * Outbound webhooks (issue 12) to a loopback receiver (the address setting on, as the harness
 * runs): the event arrives signed, verified the way the README shows; a receiver answering 500
 * then 200 gets it once more and no more, and the delivery log shows both attempts; events are
 * numbered per customer; a rotation signs with both secrets; a redelivery sends it again; a deleted
 * endpoint gets nothing more.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from '../harness/receivers.js';

let api: ApiHarness;
let receiver: HttpReceiver;
let endpoint: { id: string; secret: string };
const suffix = Date.now().toString(36);

/** The README's three lines. */
function verified(rawBody: string, header: string, secret: string): boolean {
  const [t, ...signatures] = header.split(',');
  const expected = createHmac('sha256', secret).update(`${t!.slice(2)}.${rawBody}`).digest('hex');
  return signatures.includes(`v1=${expected}`) && Math.abs(Date.now() / 1000 - Number(t!.slice(2))) < 300;
}

const forCustomer = (customerId: string) => receiver.requests.filter((r) => (r.body as { customerId?: string }).customerId === customerId);

async function createCustomer(id: string, plan = 'pro'): Promise<void> {
  expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Hook Co', email: `billing@${id}.test`, plan } })).status).toBe(201);
}

beforeAll(async () => {
  receiver = await startHttpReceiver();
  api = await startApiHarness();
  const created = await api.request('POST', '/v1/webhook-endpoints', { body: { url: `${receiver.baseUrl}/hooks`, eventTypes: ['invoice.created'], description: 'billing' } });
  expect(created.status).toBe(201);
  endpoint = created.body as { id: string; secret: string };
});
afterAll(async () => {
  await api?.close();
  await receiver?.close();
});

describe('outbound webhooks', () => {
  it('delivers a new invoice, signed, verifiable the README way', async () => {
    expect(endpoint.secret).toMatch(/^whsec_/);
    const customer = `hook-a-${suffix}`;
    await createCustomer(customer);
    const [request] = await eventually(() => (forCustomer(customer).length > 0 ? forCustomer(customer) : undefined));
    expect(request!.path).toBe('/hooks');
    expect(verified(request!.rawBody, String(request!.headers['tollgate-signature']), endpoint.secret)).toBe(true);
    expect(verified(request!.rawBody, String(request!.headers['tollgate-signature']), 'whsec_wrong')).toBe(false);
    const body = request!.body as { id: string; type: string; sequence: number; data: { number: string; total: string; currency: string; reason: string } };
    // customer.created (which this endpoint does not take) was the customer's first event.
    expect(body).toMatchObject({ type: 'invoice.created', customerId: customer, sequence: 2 });
    expect(body.data.number).toMatch(/^INV-/);
    expect(body.data.total).toMatch(/^\d+\.\d{2}$/);
    expect(request!.headers['tollgate-event-id']).toBe(body.id);
    expect(request!.headers['tollgate-event-type']).toBe('invoice.created');
    // The secret is never shown again.
    expect(JSON.stringify((await api.request('GET', `/v1/webhook-endpoints/${endpoint.id}`)).body)).not.toContain(endpoint.secret);
    expect(JSON.stringify((await api.request('GET', '/v1/webhook-endpoints')).body)).not.toContain(endpoint.secret);
  });

  it('a receiver answering 500 then 200 gets the event once more and no more; the log shows both attempts', async () => {
    const customer = `hook-b-${suffix}`;
    receiver.failNext(1, 500);
    await createCustomer(customer);
    const attemptsFor = () => receiver.attempts.filter((a) => (a.body as { customerId?: string }).customerId === customer);
    await eventually(() => attemptsFor().some((a) => a.status === 200) || undefined, 30_000);
    // Past the next retry's time: nothing more comes.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(attemptsFor().map((a) => a.status)).toEqual([500, 200]);
    const log = (await api.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=100`)).body.data as Array<{ customerId: string; status: string; attempts: number; attemptLog: Array<{ attempt: number; status: number | null }> }>;
    const delivery = log.find((d) => d.customerId === customer)!;
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(delivery.attemptLog.map((a) => [a.attempt, a.status])).toEqual([[1, 500], [2, 200]]);
  });

  it('numbers each customer\'s events 1, 2, 3… in order', async () => {
    const customer = `hook-c-${suffix}`;
    await createCustomer(customer, 'basic');
    await eventually(() => forCustomer(customer).length === 1 || undefined);
    expect((await api.request('POST', `/v1/customers/${customer}/subscription/change`, { body: { plan: 'pro' } })).status).toBe(200);
    const requests = await eventually(() => (forCustomer(customer).length === 2 ? forCustomer(customer) : undefined));
    expect(requests.map((r) => (r.body as { sequence: number }).sequence).sort((a, b) => a - b)).toEqual([2, 3]);
    const reasons = requests.map((r) => (r.body as { data: { reason: string } }).data.reason);
    expect(new Set(reasons).size).toBe(2);
  });

  it('after a rotation both secrets sign until the previous one expires', async () => {
    const rotated = await api.request('POST', `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { body: { previousValidSeconds: 600 } });
    expect(rotated.status).toBe(200);
    const next = rotated.body as { secret: string; previousSecretExpiresAt: string };
    expect(next.secret).not.toBe(endpoint.secret);
    const customer = `hook-d-${suffix}`;
    await createCustomer(customer);
    const [request] = await eventually(() => (forCustomer(customer).length > 0 ? forCustomer(customer) : undefined));
    const header = String(request!.headers['tollgate-signature']);
    expect(header.split(',').filter((part) => part.startsWith('v1=')).length).toBe(2);
    expect(verified(request!.rawBody, header, next.secret)).toBe(true);
    expect(verified(request!.rawBody, header, endpoint.secret)).toBe(true);
    endpoint = { id: endpoint.id, secret: next.secret };
  });

  it('redelivers on request, as a new round with the same event', async () => {
    const customer = `hook-e-${suffix}`;
    await createCustomer(customer);
    await eventually(() => forCustomer(customer).length === 1 || undefined);
    const log = (await api.request('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=100`)).body.data as Array<{ id: string; customerId: string; eventId: string }>;
    const first = log.find((d) => d.customerId === customer)!;
    const again = await api.request('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/${first.id}/redeliver`);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ eventId: first.eventId, round: 1 });
    const requests: ReceivedRequest[] = await eventually(() => (forCustomer(customer).length === 2 ? forCustomer(customer) : undefined));
    expect(requests.map((r) => r.headers['tollgate-event-id'])).toEqual([first.eventId, first.eventId]);
    expect((await api.request('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/00000000-0000-4000-8000-000000000000/redeliver`)).status).toBe(404);
    // Twelve at once (more than any retry budget): twelve rounds of their own, each delivered.
    const burst = await Promise.all(Array.from({ length: 12 }, () => api.request('POST', `/v1/webhook-endpoints/${endpoint.id}/deliveries/${first.id}/redeliver`)));
    expect(burst.map((a) => a.status)).toEqual(Array(12).fill(202));
    expect(burst.map((a) => a.body.round as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    await eventually(() => forCustomer(customer).length === 14 || undefined, 20_000);
  });

  it('refuses what delivery would refuse, and an Idempotency-Key where the secret is answered', async () => {
    for (const url of ['ftp://hooks.test/x', 'https://user:pw@hooks.test/x', 'not a url']) {
      const answer = await api.request('POST', '/v1/webhook-endpoints', { body: { url, eventTypes: ['invoice.created'] } });
      expect([answer.status, answer.body.error.code]).toEqual([400, 'validation_failed']);
    }
    const unknownType = await api.request('POST', '/v1/webhook-endpoints', { body: { url: `${receiver.baseUrl}/x`, eventTypes: ['invoice.exploded'] } });
    expect(unknownType.status).toBe(400);
    const withKey = await api.request('POST', '/v1/webhook-endpoints', { body: { url: `${receiver.baseUrl}/x`, eventTypes: ['invoice.created'] }, headers: { 'idempotency-key': `k-${suffix}` } });
    expect([withKey.status, withKey.body.error.code]).toEqual([400, 'idempotency_key_not_supported']);
  });

  it('a deleted endpoint gets nothing more', async () => {
    const deleted = await api.request('DELETE', `/v1/webhook-endpoints/${endpoint.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.disabledAt).not.toBeNull();
    const customer = `hook-f-${suffix}`;
    await createCustomer(customer);
    // Its invoice's event is dispatched (to nobody) without a request.
    await eventually(async () => (await api.database.db.webhookEvent.findFirst({ where: { customerId: customer, dispatchedAt: { not: null } } })) ?? undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(forCustomer(customer)).toEqual([]);
  });
});
