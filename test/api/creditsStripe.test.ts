/**
 * Credits paid through Stripe (stripe-mock behind the fault-injecting proxy), end to end through
 * the API, the subscription workflow and its activities: the token packs of the seats-eur catalog
 * bought and drawn, a Checkout purchase whose webhook arrives twice, auto-recharge under a burst
 * of usage (one recharge at a time, never past the spending limit), and a declining card that
 * turns auto-recharge off after its retries and tells the customer.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, type HttpReceiver } from '../harness/receivers.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, paidInvoice, sendWebhook, signedEvent, withSavedCard } from '../harness/stripeScenarios.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
const WEBHOOK_SECRET = 'whsec_test_tollgate_credits_0123';
const catalog = loadCatalog(SEATS_EUR);
// Retries a declined recharge after about 0.7 s and 1.4 s (hours in production), so a test sees the turn-off.
const quickRetries = { ...catalog, credits: { ...catalog.credits!, autoRecharge: { defaultSpendingLimit: '50.00', retryHours: [0.0002, 0.0004] } } };

let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
let api: ApiHarness;
let hook: HttpReceiver;

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  hook = await startHttpReceiver();
  api = await startApiHarness({
    catalog: quickRetries,
    payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false }),
    stripeWebhookSecret: WEBHOOK_SECRET,
  });
});
afterAll(async () => {
  await api?.close();
  await proxy?.close();
  await mock?.stop();
  await hook?.close();
});
afterEach(() => proxy.clearFaults());

/** A customer on Personal (9.00 EUR; 1,000,000 enrichment tokens included, then 1 token of credit per token) whose first invoice the saved card paid. */
async function personalCustomer(): Promise<string> {
  const id = `cs-${randomUUID().slice(0, 8)}`;
  withSavedCard(proxy);
  proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice });
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Tokens GmbH', email: 'ops@tokens.test', plan: 'personal' } });
  expect(created.status).toBe(201);
  await eventually(async () => (await api.database.db.invoice.findFirst({ where: { customerId: id, status: 'paid' } })) ?? undefined);
  proxy.clearFaults();
  return id;
}

const tokens = (customerId: string, quantity: number, key: string = randomUUID()) => ({ customerId, metric: 'enrichment_tokens', quantity, idempotencyKey: key });
const summaryOf = async (id: string) => (await api.request('GET', `/v1/customers/${id}/credits`)).body;

describe('token packs through Stripe', () => {
  it('buying Standard with a saved card adds 2,500,000 tokens; usage past the plan draws them; the cycle\'s spend is reported', async () => {
    const id = await personalCustomer();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice });
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'standard' } });
    expect(bought.status).toBe(200);
    expect(bought.body.purchase).toMatchObject({ status: 'paid', credits: '2500000', unit: 'tokens', amount: { amount: '10.00', currency: 'EUR' } });
    expect(bought.body.credits.balance).toBe('2500000');
    const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id, reason: 'credit_purchase' } });
    expect(invoice).toMatchObject({ status: 'paid', totalMinor: 1000n });
    expect(proxy.countByKey(`tollgate:invoice:${invoice.id}:pay:1`)).toBe(1);

    // 1,400,000 tokens on a plan that includes 1,000,000: 400,000 drawn from the pack.
    const used = await api.request('POST', '/v1/usage/events/batch', { body: { events: [tokens(id, 900_000), tokens(id, 500_000)] } });
    expect(used.body).toMatchObject({ counted: 2, refused: 0 });
    const summary = await summaryOf(id);
    expect(summary).toMatchObject({
      unit: 'tokens',
      balance: '2100000',
      balanceValue: { amount: '10.50', currency: 'EUR' },
      consumedThisCycle: { credits: '400000', value: { amount: '2.00', currency: 'EUR' } },
      autoRecharge: { enabled: false, status: 'off', spentThisCycle: { amount: '0.00', currency: 'EUR' }, spendingLimit: { amount: '50.00', currency: 'EUR' } },
    });
    const history = (await api.request('GET', `/v1/customers/${id}/credits/transactions`)).body.data;
    expect(history.map((e: { type: string; credits: string }) => [e.type, e.credits])).toEqual([['consumption', '-400000'], ['purchase', '2500000']]);
  });

  it('without a saved card a purchase answers a Checkout URL; the completion webhook, delivered twice, grants once', async () => {
    const id = await personalCustomer();
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, {
      body: { packId: 'pro', checkout: { successUrl: 'https://app.tokens.test/credits?s={CHECKOUT_SESSION_ID}', cancelUrl: 'https://app.tokens.test/credits' } },
    });
    expect(bought.status).toBe(202);
    expect(bought.body.purchase).toMatchObject({ status: 'checkout_required', credits: '7000000', amount: { amount: '25.00', currency: 'EUR' } });
    expect(bought.body.purchase.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(bought.body.credits.balance).toBe('0');
    const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id, reason: 'credit_purchase' } });
    const event = signedEvent(WEBHOOK_SECRET, {
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      type: 'checkout.session.completed',
      object: { id: 'cs_test_credits', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_credits', customer: null, metadata: { tollgate_customer_id: id, tollgate_invoice_id: invoice.id } },
    });
    expect(await sendWebhook(api.baseUrl, event)).toMatchObject({ status: 200 });
    expect(await sendWebhook(api.baseUrl, event)).toMatchObject({ status: 200 });
    // A second, distinct event for the same payment (invoice.paid) changes nothing either.
    expect(await sendWebhook(api.baseUrl, signedEvent(WEBHOOK_SECRET, {
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      type: 'invoice.paid',
      object: { id: 'in_credits', object: 'invoice', customer: null, payment_intent: 'pi_credits', metadata: { tollgate_customer_id: id, tollgate_invoice_id: invoice.id } },
    }))).toMatchObject({ status: 200 });
    await eventually(async () => ((await summaryOf(id)).balance === '7000000' ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await summaryOf(id)).balance).toBe('7000000');
    expect(await api.database.db.creditTransaction.count({ where: { customerId: id } })).toBe(1);
    // The purchase no longer waits: its invoice is paid.
    expect((await api.database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status).toBe('paid');
  });

  it('a declined card answers 402 payment_required with the page to pay on; nothing is granted', async () => {
    const id = await personalCustomer();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, error: 'card_declined' });
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'starter' } });
    expect([bought.status, bought.body.error.code]).toEqual([402, 'payment_required']);
    expect(bought.body.error.details).toMatchObject({ status: 'payment_failed', credits: '1000000' });
    expect(bought.body.error.details.expiresAt).toEqual(expect.any(String));
    expect((await summaryOf(id)).balance).toBe('0');
  });
});

describe('auto-recharge', () => {
  it('under a burst of usage: one recharge at a time, whole Standard packs, never past the 50.00 EUR limit of the cycle', async () => {
    const id = await personalCustomer();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice, times: Number.POSITIVE_INFINITY });
    const settings = await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'standard', threshold: '500000' } });
    expect(settings.status).toBe(200);
    expect(settings.body.autoRecharge).toMatchObject({ enabled: true, status: 'on', packId: 'standard', threshold: '500000', spendingLimit: { amount: '50.00', currency: 'EUR' } });
    await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '600000', type: 'promotional', reason: 'trial' } });
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });

    // 60 concurrent events of 250,000 tokens (15,000,000 in all): far more than the limit buys (5 packs).
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => api.request('POST', '/v1/usage/events', { body: tokens(id, 250_000, `burst-${i}`) })));
    expect(burst.every((r) => r.status === 200 || (r.status === 402 && r.body.error.code === 'insufficient_credits'))).toBe(true);
    // Keep drawing as recharges land, until the limit stops them.
    await eventually(async () => {
      await api.request('POST', '/v1/usage/events', { body: tokens(id, 250_000) });
      const purchases = await api.database.db.creditPurchase.findMany({ where: { customerId: id, kind: 'recharge' }, include: { invoice: true } });
      const settled = purchases.every((p) => p.invoice.status !== 'open');
      const summary = await summaryOf(id);
      return settled && summary.autoRecharge.spentThisCycle.amount === '50.00' ? true : undefined;
    }, 60_000, 200);

    const purchases = await api.database.db.creditPurchase.findMany({ where: { customerId: id, kind: 'recharge' }, include: { invoice: true }, orderBy: { createdAt: 'asc' } });
    const total = purchases.reduce((sum, p) => sum + p.amountMinor, 0n);
    expect(total).toBe(5000n);
    expect(purchases.every((p) => p.invoice.status === 'paid' && p.packId === 'standard')).toBe(true);
    // One at a time: each recharge invoice was issued after the one before it was paid.
    for (let i = 1; i < purchases.length; i++) expect(purchases[i]!.invoice.issuedAt.getTime()).toBeGreaterThanOrEqual(purchases[i - 1]!.invoice.paidAt!.getTime());
    // Each credited exactly its packs.
    const granted = await api.database.db.creditTransaction.findMany({ where: { customerId: id, kind: 'recharge' } });
    expect(granted.reduce((sum, t) => sum + BigInt(t.creditsNanos.toFixed(0)), 0n)).toBe(BigInt(purchases.reduce((n, p) => n + p.packs, 0)) * 2_500_000n * 1_000_000_000n);
    // More draws do not buy more: the limit holds for the rest of the cycle.
    for (let i = 0; i < 20; i++) await api.request('POST', '/v1/usage/events', { body: tokens(id, 250_000) });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await api.database.db.creditPurchase.count({ where: { customerId: id, kind: 'recharge' } })).toBe(purchases.length);
    const balance = (await api.database.db.creditAccount.findFirstOrThrow({ where: { customerId: id } })).balanceNanos;
    expect(balance.isNegative()).toBe(false);
  });

  it('a declining card: retried on the schedule, then auto-recharge is turned off and the customer is told', async () => {
    const id = await personalCustomer();
    hook.reset();
    expect((await api.request('PUT', `/v1/customers/${id}/alert-channels`, { body: { slack: { webhookUrl: `${hook.baseUrl}/slack/T0/B0/recharge` } } })).status).toBe(200);
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, error: 'card_declined', times: Number.POSITIVE_INFINITY });
    // Granted first: turned on above its threshold, nothing is bought until the balance falls under it.
    await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '600000', type: 'manual', reason: 'migration' } });
    await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'starter', threshold: '500000', spendingLimit: '20.00' } });
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 200_000) });

    const off = await eventually(async () => {
      const summary = await summaryOf(id);
      return summary.autoRecharge.status === 'turned_off' ? summary : undefined;
    }, 60_000, 200);
    expect(off.autoRecharge).toMatchObject({ enabled: false, failures: 3, spentThisCycle: { amount: '0.00', currency: 'EUR' } });
    expect(off.autoRecharge.turnedOffReason).toMatch(/The last 3 recharge payments failed/);
    expect(off.balance).toBe('400000');
    const recharge = await api.database.db.creditPurchase.findFirstOrThrow({ where: { customerId: id, kind: 'recharge' }, include: { invoice: true } });
    expect(recharge.invoice.status).toBe('void');
    // Three attempts, each with its own key, and no fourth.
    for (const attempt of [1, 2, 3]) expect(proxy.countByKey(`tollgate:invoice:${recharge.invoiceId}:pay:${attempt}`)).toBeGreaterThanOrEqual(1);
    expect(proxy.countByKey(`tollgate:invoice:${recharge.invoiceId}:pay:4`)).toBe(0);
    const texts = await eventually(() => {
      const slack = hook.requests.filter((r) => r.path.startsWith('/slack')).map((r) => JSON.stringify(r.body));
      return slack.some((t) => t.includes('auto-recharge turned off')) ? slack : undefined;
    });
    expect(texts.filter((t) => t.includes('credit balance is low'))).toHaveLength(1);
    expect(texts.filter((t) => t.includes('auto-recharge payment failed'))).toHaveLength(2);
    expect(texts.filter((t) => t.includes('auto-recharge turned off'))).toHaveLength(1);
  });
});

describe('auto-recharge settings', () => {
  it('refuses settings that could never recharge, and changes nothing', async () => {
    const id = await personalCustomer();
    const put = (body: Record<string, unknown>) => api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body });
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ enabled: true, threshold: '500000' }, 422, 'pack_required'],
      [{ enabled: true, packId: 'mega', threshold: '500000' }, 422, 'unknown_pack'],
      [{ enabled: true, packId: 'starter', threshold: '0' }, 422, 'threshold_required'],
      [{ enabled: true, packId: 'enterprise', threshold: '500000', spendingLimit: '20.00' }, 422, 'spending_limit_below_pack'],
      [{ enabled: true, packId: 'starter', threshold: '500000', spendingLimit: '20.001' }, 422, 'invalid_amount'],
    ];
    for (const [body, status, code] of cases) {
      const answer = await put(body);
      expect([JSON.stringify(body), answer.status, answer.body.error?.code]).toEqual([JSON.stringify(body), status, code]);
    }
    expect(await api.database.db.creditAccount.findFirst({ where: { customerId: id, autoRecharge: true } })).toBeNull();
    const off = await put({ enabled: false });
    expect(off.body.autoRecharge).toMatchObject({ enabled: false, status: 'off', packId: null, threshold: '500000' });
  });
});

describe('auto-recharge after its limit', () => {
  it('stopped by the spending limit, it starts again when the limit is raised', async () => {
    const id = await personalCustomer();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice, times: Number.POSITIVE_INFINITY });
    await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '600000', type: 'promotional', reason: 'trial' } });
    await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'standard', threshold: '500000', spendingLimit: '10.00' } });
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_000_000) });
    // Under the threshold: one Standard pack (10.00, the whole limit).
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 200_000) });
    await eventually(async () => ((await summaryOf(id)).balance === '2900000' ? true : undefined));
    // Under it again: the limit is spent, nothing bought; the customer stays under the threshold.
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 2_500_000) });
    await eventually(async () => (await api.database.db.paymentNoticeDelivery.count({ where: { customerId: id, noticeId: { contains: ':limit:' } } })) > 0 || undefined);
    expect((await summaryOf(id)).balance).toBe('400000');
    // A higher limit: a recharge at once.
    const raised = await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'standard', threshold: '500000', spendingLimit: '20.00' } });
    expect(raised.status).toBe(200);
    const after = await eventually(async () => {
      const summary = await summaryOf(id);
      return summary.balance === '2900000' ? summary : undefined;
    });
    expect(after.autoRecharge).toMatchObject({ spentThisCycle: { amount: '20.00', currency: 'EUR' }, status: 'on', failures: 0 });
    expect(await api.database.db.creditPurchase.count({ where: { customerId: id, kind: 'recharge' } })).toBe(2);
  });
});

describe('refunds', () => {
  it('an operator refunds a purchase: its unused credits back, that share of the price to the card, once', async () => {
    const id = await personalCustomer();
    withSavedCard(proxy);
    proxy.inject({
      method: 'POST', path: PAY_PATH,
      respond: (context) => {
        const answer = paidInvoice(context);
        return { ...answer, json: { ...answer.json, payments: { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: 'pi_credits_refund' } }] } } };
      },
    });
    const bought = await api.request('POST', `/v1/customers/${id}/credits/purchases`, { body: { packId: 'standard' } });
    expect(bought.body.purchase.status).toBe('paid');
    // 500,000 of the 2,500,000 used: 2,000,000 left, 4/5 of 10.00 EUR to give back.
    await api.request('POST', '/v1/usage/events', { body: tokens(id, 1_500_000) });
    const refunded = await api.request('POST', `/v1/customers/${id}/credits/purchases/${bought.body.purchase.id}/refund`, { body: { reason: 'Customer asked' } });
    expect(refunded.body.error).toBeUndefined();
    expect(refunded.status).toBe(200);
    expect(refunded.body.refund).toMatchObject({ credits: '2000000', unit: 'tokens', amount: { amount: '8.00', currency: 'EUR' }, creditNoteNumber: expect.any(String) });
    expect(refunded.body.credits.balance).toBe('0');
    const note = await api.request('GET', `/v1/customers/${id}/invoices/${refunded.body.refund.creditNoteNumber}`);
    expect(note.body).toMatchObject({ reason: 'refund', status: 'paid', total: { amount: '-8.00', currency: 'EUR' } });
    const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id, reason: 'credit_purchase' } });
    const stripeRefunds = proxy.requests.filter((r) => r.path === '/v1/refunds' && r.idempotencyKey === `tollgate:refund:purchase:${bought.body.purchase.id}:${invoice.id}`);
    expect(stripeRefunds).toHaveLength(1);
    expect(stripeRefunds[0]!.params).toMatchObject({ payment_intent: 'pi_credits_refund', amount: '800' });
    // Asked again (another request): the same refund, nothing more taken or paid back.
    const again = await api.request('POST', `/v1/customers/${id}/credits/purchases/${bought.body.purchase.id}/refund`, { body: { reason: 'Twice' } });
    expect(again.body.error).toBeUndefined();
    expect(again.body.refund).toEqual(refunded.body.refund);
    expect(proxy.requests.filter((r) => r.path === '/v1/refunds')).toHaveLength(1);
    const history = (await api.request('GET', `/v1/customers/${id}/credits/transactions`)).body.data;
    expect(history[0]).toMatchObject({ type: 'refund', credits: '-2000000', balanceAfter: '0', amount: { amount: '8.00', currency: 'EUR' }, reason: 'Customer asked' });
    const unknown = await api.request('POST', `/v1/customers/${id}/credits/purchases/nope/refund`, { body: { reason: 'x' } });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'purchase_not_found']);
  });
});
