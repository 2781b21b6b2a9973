/**
 * Prepaid credits through the API with no payment provider (PAYMENT_PROVIDER=none): purchases
 * issue an invoice that waits for an operator, grants, consumption drawn in the usage transaction
 * (a 402 insufficient_credits otherwise), the usage card's balance, the aggregated history, and
 * the low-balance alert delivered once per crossing. Real PostgreSQL, Temporal dev server, worker.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, type HttpReceiver } from '../harness/receivers.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
let api: ApiHarness;
let hook: HttpReceiver;

beforeAll(async () => {
  hook = await startHttpReceiver();
  api = await startApiHarness({ catalog: loadCatalog(SEATS_EUR) });
});
afterAll(async () => {
  await api?.close();
  await hook?.close();
});

async function personalCustomer(): Promise<string> {
  const id = `cred-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Tokens Ltd', email: 'ops@tokens.test', plan: 'personal' } });
  expect(created.status).toBe(201);
  return id;
}

const tokens = (customerId: string, quantity: number, key: string = randomUUID()) => ({ customerId, metric: 'enrichment_tokens', quantity, idempotencyKey: key });
const grant = (id: string, credits: string, headers: Record<string, string> = {}) =>
  api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits, type: 'promotional', reason: 'Welcome gift' }, headers });

describe('credits without a payment provider', () => {
  it('a purchase issues an invoice and grants nothing until an operator marks it paid; then exactly the pack', async () => {
    const id = await personalCustomer();
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'standard' }, headers: { 'idempotency-key': `buy-${id}` } });
    expect(bought.status).toBe(202);
    expect(bought.body.purchase).toMatchObject({ status: 'awaiting_payment', credits: '2500000', unit: 'tokens', amount: { amount: '10.00', currency: 'EUR' }, checkoutUrl: null });
    expect(bought.body.credits.balance).toBe('0');
    const number = bought.body.purchase.invoiceNumber as string;
    const invoice = await api.request('GET', `/v1/customers/${id}/invoices/${number}`);
    expect(invoice.body).toMatchObject({ status: 'open', reason: 'credit_purchase', total: { amount: '10.00', currency: 'EUR' }, lines: [{ kind: 'credits', quantity: '1' }] });

    // The same request again (same key): the same purchase, no second invoice.
    const again = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'standard' }, headers: { 'idempotency-key': `buy-${id}` } });
    expect(again.body.purchase.invoiceNumber).toBe(number);
    expect(await api.database.db.invoice.count({ where: { customerId: id, reason: 'credit_purchase' } })).toBe(1);

    const paid = await api.request('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { body: { reference: 'wire #1' } });
    expect(paid.status).toBe(200);
    const summary = await api.request('GET', `/v1/customers/${id}/credits`);
    expect(summary.body).toMatchObject({ unit: 'tokens', balance: '2500000', balanceValue: { amount: '12.50', currency: 'EUR' } });
    const history = await api.request('GET', `/v1/customers/${id}/credits/transactions`);
    expect(history.body.data).toMatchObject([{ type: 'purchase', credits: '2500000', balanceAfter: '2500000', invoiceNumber: number, amount: { amount: '10.00', currency: 'EUR' } }]);
  });

  it('usage past the plan draws credits in the usage transaction; without enough it is refused whole (402), never negative', async () => {
    const id = await personalCustomer();
    expect((await grant(id, '300000')).status).toBe(201);
    // 1,000,000 included on Personal: this reaches exactly the limit and draws nothing.
    const within = await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });
    expect([within.status, within.body.status]).toEqual([200, 'counted']);
    expect((await api.request('GET', `/v1/customers/${id}/credits`)).body.balance).toBe('300000');
    // 250,000 past it: 250,000 tokens of credit.
    const past = await api.request('POST', '/v1/usage/events', { body: tokens(id, 250_000, 'past-1') });
    expect([past.status, past.body.status, past.body.used]).toEqual([200, 'counted', 1_250_000]);
    // 60,000 more cannot be paid with 50,000 left: refused whole, nothing recorded.
    const refused = await api.request('POST', '/v1/usage/events', { body: tokens(id, 60_000, 'past-2') });
    expect([refused.status, refused.body.error.code]).toEqual([402, 'insufficient_credits']);
    expect(await api.database.db.usageEvent.count({ where: { customerId: id, idempotencyKey: 'past-2' } })).toBe(0);
    const check = await api.request('GET', `/v1/usage/check?customerId=${id}&metric=enrichment_tokens&quantity=50000`);
    expect(check.body).toMatchObject({ allowed: true, policy: 'credits', credits: { needed: '50000', balance: '50000', unit: 'tokens' } });
    const exact = await api.request('POST', '/v1/usage/events', { body: tokens(id, 50_000, 'past-3') });
    expect(exact.body.status).toBe('counted');
    const summary = await api.request('GET', `/v1/customers/${id}/credits`);
    expect(summary.body).toMatchObject({
      balance: '0',
      consumedThisCycle: { credits: '300000', value: { amount: '1.50', currency: 'EUR' }, byMetric: [{ metric: 'enrichment_tokens', quantity: '300000', credits: '300000' }] },
    });
    // The usage card shows the balance, and that the metric is blocked now.
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body.credits).toEqual({ unit: 'tokens', balance: '0' });
    expect(card.body.usage.find((u: { metric: string }) => u.metric === 'enrichment_tokens')).toMatchObject({ used: 1_300_000, overLimitPolicy: 'credits', blocked: true });
    // History: the grant, and consumption aggregated into one row per metric per day.
    const history = await api.request('GET', `/v1/customers/${id}/credits/transactions`);
    const consumption = history.body.data.filter((e: { type: string }) => e.type === 'consumption');
    expect(consumption).toMatchObject([{ metric: 'enrichment_tokens', quantity: '300000', credits: '-300000', events: 2 }]);
    expect(history.body.data.filter((e: { type: string }) => e.type === 'grant')).toMatchObject([{ credits: '300000', grantType: 'promotional', reason: 'Welcome gift' }]);
  });

  it('a batch is decided event by event in arrival order: each counted with its credits or refused', async () => {
    const id = await personalCustomer();
    await grant(id, '100');
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });
    const batch = await api.request('POST', '/v1/usage/events/batch', { body: { events: [tokens(id, 60, 'b1'), tokens(id, 50, 'b2'), tokens(id, 40, 'b3'), tokens(id, 60, 'b1')] } });
    expect(batch.body.results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual(['counted', 'insufficient_credits', 'counted', 'duplicate']);
    expect((await api.request('GET', `/v1/customers/${id}/credits`)).body.balance).toBe('0');
  });

  it('operator grants are named by their Idempotency-Key: a retry grants nothing more', async () => {
    const id = await personalCustomer();
    const first = await grant(id, '1000', { 'idempotency-key': `g-${id}` });
    const retry = await grant(id, '1000', { 'idempotency-key': `g-${id}` });
    expect(first.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect((await api.request('GET', `/v1/customers/${id}/credits`)).body.balance).toBe('1000');
    const bad = await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '-5', type: 'gift', reason: '' } });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('refuses what the catalog does not sell, and auto-recharge without a provider', async () => {
    const id = await personalCustomer();
    const unknown = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'mega' } });
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'unknown_pack']);
    const custom = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { amount: '7.00' } });
    expect([custom.status, custom.body.error.code]).toEqual([422, 'custom_amount_not_offered']);
    const both = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'pro', amount: '7.00' } });
    expect(both.status).toBe(400);
    const recharge = await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'standard', threshold: '500000' } });
    expect([recharge.status, recharge.body.error.code]).toEqual([409, 'payment_provider_required']);
    const missing = await api.request('GET', '/v1/customers/nobody-here/credits');
    expect([missing.status, missing.body.error.code]).toEqual([404, 'customer_not_found']);
    expect(await api.database.db.invoice.count({ where: { customerId: id, reason: 'credit_purchase' } })).toBe(0);
  });

  it('a balance falling under its threshold alerts once per crossing, and running out once', async () => {
    const id = await personalCustomer();
    expect((await api.request('PUT', `/v1/customers/${id}/alert-channels`, { body: { slack: { webhookUrl: `${hook.baseUrl}/slack/T0/B0/credits` } } })).status).toBe(200);
    await grant(id, '600000');
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });
    // Under the catalog's 500,000 threshold: one alert, however many events follow.
    for (let i = 0; i < 5; i++) await api.request('POST', '/v1/usage/events', { body: tokens(id, 50_000) });
    await eventually(() => hook.requests.some((r) => r.path.startsWith('/slack') && JSON.stringify(r.body).includes('credit balance is low')) || undefined);
    // Used up: one "credits used up" alert; the refused event that follows adds none.
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 350_000) });
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1) });
    await eventually(() => hook.requests.some((r) => r.path.startsWith('/slack') && JSON.stringify(r.body).includes('credits used up')) || undefined);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const slack = hook.requests.filter((r) => r.path.startsWith('/slack')).map((r) => JSON.stringify(r.body));
    expect(slack.filter((text) => text.includes('credit balance is low'))).toHaveLength(1);
    expect(slack.filter((text) => text.includes('credits used up'))).toHaveLength(1);
    const alerts = await api.database.db.creditAlert.findMany({ where: { customerId: id }, orderBy: { crossing: 'asc' } });
    expect(alerts.map((a) => [a.kind, a.crossing])).toEqual([['low', 1], ['exhausted', 2]]);
  });
});

describe('credits: edges', () => {
  it('history pages never split or lose entries of one instant (one batch over many days), and refuse times the database cannot hold', async () => {
    const id = `cred-${randomUUID().slice(0, 8)}`;
    const periodStart = new Date(Date.now() - 25 * 86_400_000).toISOString();
    expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Back Dated', email: 'b@tokens.test', plan: 'personal', periodStart } })).status).toBe(201);
    await grant(id, '100000');
    await api.request('POST', '/v1/usage/events', { body: { ...tokens(id, 1_000_000), timestamp: periodStart } });
    // One request, one transaction: 20 days of usage past the plan, 20 consumption rows written at the same instant.
    const events = Array.from({ length: 20 }, (_, d) => ({ ...tokens(id, 1_000, `day-${d}`), timestamp: new Date(Date.parse(periodStart) + (d + 1) * 86_400_000).toISOString() }));
    const batch = await api.request('POST', '/v1/usage/events/batch', { body: { events } });
    expect(batch.body.counted).toBe(20);
    const seen: Array<{ type: string; day?: string }> = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const answer: { status: number; body: { data: Array<{ type: string; day?: string }>; nextCursor: string | null } } = await api.request('GET', `/v1/customers/${id}/credits/transactions?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(answer.status).toBe(200);
      seen.push(...answer.body.data);
      cursor = answer.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen.filter((e) => e.type === 'consumption')).toHaveLength(20);
    expect(new Set(seen.filter((e) => e.type === 'consumption').map((e) => e.day)).size).toBe(20);
    expect(seen.filter((e) => e.type === 'grant')).toHaveLength(1);
    for (const bad of ['before=0000-01-01T00:00:00Z', 'before=0001-01-01T00:00:00%2B14:00', 'cursor=not-a-cursor', `cursor=${Buffer.from('{"at":"x","key":"t:1"}').toString('base64url')}`]) {
      const refused = await api.request('GET', `/v1/customers/${id}/credits/transactions?${bad}`);
      expect([bad, refused.status, refused.body.error.code]).toEqual([bad, 400, 'validation_failed']);
    }
  });

  it('at most 5 purchases wait for an operator at once; settling one makes room', async () => {
    const id = await personalCustomer();
    const numbers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
      expect(bought.status).toBe(202);
      numbers.push(bought.body.purchase.invoiceNumber);
    }
    const sixth = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    expect([sixth.status, sixth.body.error.code]).toEqual([409, 'too_many_pending_purchases']);
    expect((await api.request('POST', `/v1/customers/${id}/invoices/${numbers[0]}/void`, { body: {} })).status).toBe(200);
    const room = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    expect(room.status).toBe(202);
    // Racing purchases are capped too: of five at once on four waiting, exactly one goes through.
    expect((await api.request('POST', `/v1/customers/${id}/invoices/${numbers[1]}/void`, { body: {} })).status).toBe(200);
    const racing = await Promise.all(Array.from({ length: 5 }, () => api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } })));
    expect(racing.filter((r) => r.status === 202)).toHaveLength(1);
    expect(racing.filter((r) => r.status === 409).map((r) => r.body.error.code)).toEqual(Array(4).fill('too_many_pending_purchases'));
    expect(await api.database.db.invoice.count({ where: { customerId: id, reason: 'credit_purchase', status: 'open' } })).toBe(5);
  });

  it('a refund takes back only what is left of that purchase: usage draws the oldest credits first', async () => {
    const id = await personalCustomer();
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    await api.request('POST', `/v1/customers/${id}/invoices/${bought.body.purchase.invoiceNumber}/mark-paid`, { body: { reference: 'wire #7' } });
    // All 1,000,000 used, then a gift of 1,000,000: the balance is the gift's, not the purchase's.
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 2_000_000) });
    await grant(id, '1000000');
    const refund = await api.request('POST', `/v1/customers/${id}/credits/purchases/${bought.body.purchase.id}/refund`, { body: { reason: 'asked' } });
    expect([refund.status, refund.body.error.code]).toEqual([409, 'nothing_to_refund']);
    expect((await api.request('GET', `/v1/customers/${id}/credits`)).body.balance).toBe('1000000');
  });
});

describe('credits: operator refunds without a provider', () => {
  it('a purchase paid out of band is refunded in credits, with a credit note saying the money goes back elsewhere', async () => {
    const id = await personalCustomer();
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    await api.request('POST', `/v1/customers/${id}/invoices/${bought.body.purchase.invoiceNumber}/mark-paid`, { body: { reference: 'wire #9' } });
    const refund = await api.request('POST', `/v1/customers/${id}/credits/purchases/${bought.body.purchase.id}/refund`, { body: { reason: 'asked' } });
    expect(refund.status).toBe(200);
    expect(refund.body.refund).toMatchObject({ credits: '1000000', amount: { amount: '5.00', currency: 'EUR' }, providerRefundId: null });
    expect(refund.body.credits.balance).toBe('0');
    const note = await api.request('GET', `/v1/customers/${id}/invoices/${refund.body.refund.creditNoteNumber}`);
    expect(note.body).toMatchObject({ reason: 'refund', status: 'paid', total: { amount: '-5.00', currency: 'EUR' } });
    expect(note.body.lines[0].description).toContain('paid back outside the payment provider');
    const unpaid = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    const refused = await api.request('POST', `/v1/customers/${id}/credits/purchases/${unpaid.body.purchase.id}/refund`, { body: { reason: 'asked' } });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'purchase_not_paid']);
  });
});
