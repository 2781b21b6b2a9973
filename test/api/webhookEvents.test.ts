/**
 * What each change reports to a host's webhook endpoint (issue 12), once, with its data, numbered
 * per customer: invoice paid and credits purchased (one payment), subscription updated (with what
 * it was), usage past 80% and 100%, credits low and run out. Catalog: config/examples/seats-eur.json
 * (it sells credits); no payment provider, so an operator's mark-paid pays.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, type HttpReceiver } from '../harness/receivers.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');

let api: ApiHarness;
let receiver: HttpReceiver;

interface Delivered { type: string; customerId: string; sequence: number; data: Record<string, unknown> }
const eventsOf = (customerId: string) => receiver.requests.map((r) => r.body as Delivered).filter((e) => e.customerId === customerId).sort((a, b) => a.sequence - b.sequence);
const typesOf = (customerId: string) => eventsOf(customerId).map((e) => e.type);

beforeAll(async () => {
  receiver = await startHttpReceiver();
  api = await startApiHarness({ catalog: loadCatalog(SEATS_EUR) });
  const created = await api.request('POST', '/v1/webhook-endpoints', {
    body: { url: `${receiver.baseUrl}/hooks`, eventTypes: ['customer.created', 'invoice.created', 'invoice.paid', 'invoice.payment_failed', 'subscription.updated', 'usage.threshold_crossed', 'credits.low', 'credits.purchased'] },
  });
  expect(created.status).toBe(201);
});
afterAll(async () => {
  await api?.close();
  await receiver?.close();
});

async function customer(plan: string): Promise<string> {
  const id = `ev-${randomUUID().slice(0, 8)}`;
  expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Events Co', email: 'ops@events.test', plan } })).status).toBe(201);
  return id;
}

describe('webhook events', () => {
  it('a customer created, alone or in a bulk import: customer.created, numbered 1', async () => {
    const id = await customer('personal');
    const created = await eventually(() => eventsOf(id).find((e) => e.type === 'customer.created'));
    expect(created).toMatchObject({ sequence: 1, data: { name: 'Events Co', email: 'ops@events.test', plan: 'personal', interval: 'monthly', seats: 1 } });
    const imported = [`imp-${randomUUID().slice(0, 8)}`, `imp-${randomUUID().slice(0, 8)}`];
    const answer = await api.request('POST', '/v1/customers/import', {
      body: { customers: imported.map((cid) => ({ id: cid, name: 'Imported Co', email: 'ops@imported.test', plan: 'team', periodStart: new Date(Date.now() - 86_400_000).toISOString() })) },
    });
    expect(answer.status).toBe(200);
    for (const cid of imported) {
      const event = await eventually(() => eventsOf(cid).find((e) => e.type === 'customer.created'));
      expect(event).toMatchObject({ sequence: 1, data: { plan: 'team', name: 'Imported Co' } });
    }
    // Importing them again creates nothing and reports nothing.
    expect((await api.request('POST', '/v1/customers/import', { body: { customers: imported.map((cid) => ({ id: cid, name: 'Imported Co', email: 'ops@imported.test', plan: 'team', periodStart: new Date(Date.now() - 86_400_000).toISOString() })) } })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const cid of imported) expect(eventsOf(cid).filter((e) => e.type === 'customer.created')).toHaveLength(1);
  });

  it('a credit purchase paid: invoice.created, then invoice.paid and credits.purchased, once', async () => {
    const id = await customer('personal');
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'standard' } });
    expect(bought.status).toBeLessThan(300);
    const number = (bought.body as { purchase: { invoiceNumber: string } }).purchase.invoiceNumber;
    expect((await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'wire #1' } })).status).toBe(200);
    // Paying again changes nothing and reports nothing.
    expect((await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'wire #1' } })).status).toBeGreaterThanOrEqual(400);
    await eventually(() => typesOf(id).includes('credits.purchased') || undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events = eventsOf(id);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'invoice.paid')).toEqual([expect.objectContaining({ data: expect.objectContaining({ number, reference: 'wire #1', currency: 'EUR' }) })]);
    const purchased = events.filter((e) => e.type === 'credits.purchased');
    expect(purchased).toHaveLength(1);
    expect(purchased[0]!.data).toMatchObject({ kind: 'purchase', invoiceNumber: number });
    expect(Number(purchased[0]!.data.credits)).toBeGreaterThan(0);
  });

  it('a plan change: subscription.updated with what it was', async () => {
    const id = await customer('personal');
    const changed = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'team' } });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const updated = await eventually(() => eventsOf(id).find((e) => e.type === 'subscription.updated'));
    expect(updated.data).toMatchObject({ plan: 'team', previous: { plan: 'personal', interval: 'monthly', seats: 1 } });
  });

  it('credits running low, then out: credits.low twice (low, then exhausted)', async () => {
    const id = await customer('personal');
    expect((await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '600000', type: 'promotional', reason: 'gift' } })).status).toBe(201);
    const tokens = (quantity: number) => api.request('POST', '/v1/usage/events', { body: { customerId: id, metric: 'enrichment_tokens', quantity, idempotencyKey: randomUUID() } });
    await tokens(1_000_000);
    for (let i = 0; i < 3; i++) await tokens(50_000);
    await tokens(450_000);
    await tokens(1);
    const low = await eventually(() => {
      const found = eventsOf(id).filter((e) => e.type === 'credits.low');
      return found.length === 2 ? found : undefined;
    });
    expect(low.map((e) => e.data.exhausted)).toEqual([false, true]);
    expect(low[0]!.data).toMatchObject({ threshold: expect.any(String) });
  });

  it('usage past 80% and 100% of the limit: usage.threshold_crossed for each, once', async () => {
    // Team bills past its limit (nothing is refused), so usage can cross 100%.
    const metric = 'sessions';
    const plan = { id: 'team' };
    const limit = { included: loadCatalog(SEATS_EUR).plans.find((p) => p.id === 'team')!.limits[metric]!.included };
    const id = await customer(plan.id);
    const send = (quantity: number) => api.request('POST', '/v1/usage/events', { body: { customerId: id, metric, quantity, idempotencyKey: randomUUID() } });
    await send(Math.ceil(limit.included * 0.85));
    await send(Math.ceil(limit.included * 0.2));
    const crossed = await eventually(() => {
      const found = eventsOf(id).filter((e) => e.type === 'usage.threshold_crossed');
      return found.length === 2 ? found : undefined;
    });
    expect(crossed.map((e) => e.data.threshold)).toEqual([80, 100]);
    expect(crossed[0]!.data).toMatchObject({ metric, limit: String(limit.included) });
  });
});
