/**
 * Test clocks (issue 14) with money moving through Stripe (stripe-mock behind the fault-injecting
 * proxy), through the API on the dev server: the payment deadlines a subscription's main loop keeps
 * are stepped on the clock's time like its renewals, so a month of dunning or of auto-recharge
 * happens in seconds, each step at its own clock instant.
 *
 * - Dunning: a renewal declined on the clock makes the subscription past due at the renewal
 *   instant; the retries come exactly 1, 3 and 7 days after that failure by the clock (an hour
 *   before each, nothing is attempted), each with its own attempt number and Stripe key; after the
 *   last, the default catalog's final action (the fallback plan at once, the invoice void at Stripe
 *   and here), and nothing is attempted after it.
 * - Auto-recharge: a fall under the threshold buys a pack at the clock's instant; the spending
 *   limit (one pack a cycle) stops the next fall's recharge in that cycle; the renewal, with the
 *   balance still under the threshold, recharges in the new cycle at the renewal instant (not at
 *   the advance's target), and the new cycle's limit then holds in its turn.
 *
 * Why: on a clock nothing waits on a timer, so a deadline the loop failed to step to would never
 * fire, and one stepped past would fire late (dated at the target). Everything is real (API,
 * relay, worker, PostgreSQL, Temporal, Stripe's API shapes); Slack lands on a loopback receiver.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { HOUR_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { advance, at, createClock, invoicesByPeriod, subscriptionCard } from '../harness/testClocks.js';
import { startHttpReceiver, type HttpReceiver } from '../harness/receivers.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, paidInvoice, withSavedCard } from '../harness/stripeScenarios.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
const WEBHOOK_SECRET = 'whsec_test_tollgate_clock_payments';

/** An hour before an instant: still before a deadline due at it. */
const hourBefore = (iso: string) => new Date(Date.parse(iso) - HOUR_MS).toISOString();

interface InvoiceJson {
  id: string;
  number: string;
  status: string;
  reason: string;
  issuedAt: string;
  period: { start: string; end: string };
  total: { amount: string; currency: string };
  payment: { provider: { invoiceId: string; status: string | null } | null; attempts: number; lastError: string | null; voidedAt: string | null };
}

let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
});
afterAll(async () => {
  await proxy?.close();
  await mock?.stop();
});
afterEach(() => proxy.clearFaults());

const stripeHarness = (catalog?: ReturnType<typeof loadCatalog>) => startApiHarness({
  ...(catalog ? { catalog } : {}),
  payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false }),
  stripeWebhookSecret: WEBHOOK_SECRET,
});

/** A customer on the clock whose first invoice the saved card paid (the card then answers as the test's faults say). */
async function paidClockCustomer(h: ApiHarness, clockId: string, plan: string): Promise<string> {
  const id = `tcp-${randomUUID().slice(0, 8)}`;
  const res = await h.request('POST', '/v1/customers', { body: { id, name: `Clock Pay ${id}`, email: `${id}@clock.test`, plan, testClock: clockId } });
  expect(res.status).toBe(201);
  expect(res.body.payment).toMatchObject({ status: 'paid' });
  expect(res.body.subscription).toMatchObject({ status: 'active', currentPeriod: { start: at(0), end: at(30) } });
  return id;
}

const card = subscriptionCard;
const invoicesOf = (h: ApiHarness, id: string) => invoicesByPeriod<InvoiceJson>(h, id);

/** The one invoice of this reason (fails on none or several). */
async function theInvoice(h: ApiHarness, id: string, reason: string): Promise<InvoiceJson> {
  const found = (await invoicesOf(h, id)).filter((i) => i.reason === reason);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** The pay attempts Stripe saw for an invoice, by their idempotency keys, in order (a replayed retry counts once). */
const payKeys = (invoiceId: string) => [...new Set(proxy.requests
  .filter((r) => PAY_PATH.test(r.path) && r.idempotencyKey?.startsWith(`tollgate:invoice:${invoiceId}:pay:`))
  .map((r) => r.idempotencyKey!))];
const payKey = (invoiceId: string, attempt: number) => `tollgate:invoice:${invoiceId}:pay:${attempt}`;

describe('dunning on a test clock (default catalog: retries 1, 3 and 7 days after the failure, then the fallback plan)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await stripeHarness();
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a declined renewal is past due at the renewal instant, retried exactly at +1, +3 and +7 days by the clock, then falls back to Free with the invoice void', async () => {
    const clock = await createClock(api);
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice });
    const id = await paidClockCustomer(api, clock.id, 'basic');
    const first = await theInvoice(api, id, 'subscription_create');
    expect(first).toMatchObject({ status: 'paid', issuedAt: at(0), total: { amount: '10.00', currency: 'USD' } });
    // From now on the saved card declines every charge.
    proxy.clearFaults();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, error: 'card_declined', times: Number.POSITIVE_INFINITY });

    // The renewal at T0+30d is declined: past due, the first retry due a day later by the clock.
    await advance(api, clock.id, at(30));
    const renewal = await theInvoice(api, id, 'renewal');
    expect(renewal).toMatchObject({ status: 'open', issuedAt: at(30), period: { start: at(30), end: at(60) }, total: { amount: '10.00' }, payment: { attempts: 1 } });
    expect(renewal.payment.lastError).toMatch(/declined/i);
    expect(payKeys(renewal.id)).toEqual([payKey(renewal.id, 1)]);
    expect(await card(api, id)).toMatchObject({
      plan: { id: 'basic' },
      status: 'past_due',
      currentPeriod: { start: at(30), end: at(60) },
      payment: { reason: 'past_due', invoiceNumber: renewal.number, failures: 1, until: at(31) },
    });

    // Each retry: nothing an hour before its instant; at its instant, attempt n with its own key.
    const schedule: Array<{ day: number; attempt: number; next: string }> = [
      { day: 31, attempt: 2, next: at(33) },
      { day: 33, attempt: 3, next: at(37) },
    ];
    for (const { day, attempt, next } of schedule) {
      await advance(api, clock.id, hourBefore(at(day)));
      expect(payKeys(renewal.id)).toHaveLength(attempt - 1);
      expect((await theInvoice(api, id, 'renewal')).payment.attempts).toBe(attempt - 1);
      expect((await card(api, id)).payment).toMatchObject({ failures: attempt - 1, until: at(day) });

      await advance(api, clock.id, at(day));
      expect(payKeys(renewal.id)).toEqual(Array.from({ length: attempt }, (_, i) => payKey(renewal.id, i + 1)));
      expect(await theInvoice(api, id, 'renewal')).toMatchObject({ status: 'open', payment: { attempts: attempt } });
      expect(await card(api, id)).toMatchObject({ plan: { id: 'basic' }, status: 'past_due', payment: { reason: 'past_due', failures: attempt, until: next } });
    }

    // The last retry, 7 days after the failure: still nothing an hour before it.
    await advance(api, clock.id, hourBefore(at(37)));
    expect(payKeys(renewal.id)).toHaveLength(3);
    expect(await card(api, id)).toMatchObject({ plan: { id: 'basic' }, status: 'past_due', payment: { failures: 3 } });

    // At it, declined again: the final action. Free at once for the rest of the cycle, the invoice void (at Stripe first).
    await advance(api, clock.id, at(37));
    expect(payKeys(renewal.id)).toEqual([1, 2, 3, 4].map((n) => payKey(renewal.id, n)));
    const fellBack = await card(api, id);
    expect(fellBack).toMatchObject({ plan: { id: 'free' }, status: 'active', payment: null, currentPeriod: { start: at(30), end: at(60) } });
    const voided = await theInvoice(api, id, 'renewal');
    expect(voided).toMatchObject({ status: 'void', payment: { attempts: 4 } });
    expect(voided.payment.voidedAt).not.toBeNull();
    expect(proxy.countByKey(`tollgate:invoice:${renewal.id}:void`)).toBeGreaterThanOrEqual(1);
    expect(proxy.requests.some((r) => r.idempotencyKey === `tollgate:invoice:${renewal.id}:void` && r.path === `/v1/invoices/${voided.payment.provider!.invoiceId}/void` && r.status === 200)).toBe(true);
    // The host heard of each failed attempt once (invoice.payment_failed, keyed by the attempt).
    const failed = await api.database.db.webhookEvent.findMany({ where: { customerId: id, type: 'invoice.payment_failed' } });
    expect(failed.map((e) => e.dedupeKey).sort()).toEqual([1, 2, 3, 4].map((n) => `invoice.payment_failed:${renewal.id}:${n}`));

    // Nothing is left to retry: three weeks later, still four attempts, still Free.
    await advance(api, clock.id, at(59));
    expect(payKeys(renewal.id)).toHaveLength(4);
    expect(await card(api, id)).toMatchObject({ plan: { id: 'free' }, status: 'active', payment: null });
    expect((await invoicesOf(api, id)).map((i) => i.reason).sort()).toEqual(['renewal', 'subscription_create']);
  }, 120_000);
});

describe('auto-recharge on a test clock (seats-eur token packs)', () => {
  let api: ApiHarness;
  let hook: HttpReceiver;
  beforeAll(async () => {
    hook = await startHttpReceiver();
    api = await stripeHarness(loadCatalog(SEATS_EUR));
  });
  afterAll(async () => {
    await api?.close();
    await hook?.close();
  });

  const tokens = (customerId: string, quantity: number, key: string) => ({ customerId, metric: 'enrichment_tokens', quantity, idempotencyKey: key });
  const credits = async (id: string) => {
    const res = await api.request('GET', `/v1/customers/${id}/credits`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const slackTexts = (id: string) => hook.requests.filter((r) => r.path === `/slack/T0/B0/${id}`).map((r) => JSON.stringify(r.body));
  const limitNotices = (id: string) => slackTexts(id).filter((t) => t.includes('auto-recharge spending limit reached'));
  const recharges = (id: string) => api.database.db.creditPurchase.findMany({ where: { customerId: id, kind: 'recharge' }, orderBy: { cycleStart: 'asc' } });

  it('a fall under the threshold buys a pack at the clock\'s instant; the limit stops the next in that cycle; the renewal recharges in the new cycle at its own instant', async () => {
    const clock = await createClock(api);
    // Every charge in this test is paid by the saved card.
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice, times: Number.POSITIVE_INFINITY });
    const id = await paidClockCustomer(api, clock.id, 'personal');
    expect((await api.request('PUT', `/v1/customers/${id}/alert-channels`, { body: { slack: { webhookUrl: `${hook.baseUrl}/slack/T0/B0/${id}` } } })).status).toBe(200);

    // Granted first, so turning auto-recharge on (above its threshold) buys nothing yet. The limit: one Standard pack a cycle.
    expect((await api.request('POST', `/v1/customers/${id}/credits/grants`, { body: { credits: '600000', type: 'promotional', reason: 'clock trial' } })).status).toBe(201);
    const settings = await api.request('PUT', `/v1/customers/${id}/credits/auto-recharge`, { body: { enabled: true, packId: 'standard', threshold: '500000', spendingLimit: '10.00' } });
    expect(settings.status).toBe(200);
    expect(settings.body.autoRecharge).toMatchObject({ enabled: true, status: 'on', packId: 'standard', threshold: '500000', spendingLimit: { amount: '10.00', currency: 'EUR' } });

    // Cycle 1, at T0: 200,000 tokens past the 1,000,000 included take the balance to 400,000, under
    // the threshold → one Standard pack (the shortfall is 100,000), invoiced on the clock.
    for (const [key, quantity] of [['c1-a', 1_000_000], ['c1-b', 200_000]] as const) {
      expect((await api.request('POST', '/v1/usage/events', { body: tokens(id, quantity, key) })).status).toBe(200);
    }
    const firstRecharge = await eventually(async () => {
      const found = (await invoicesOf(api, id)).filter((i) => i.reason === 'credit_recharge');
      return found.length === 1 && found[0]!.status === 'paid' ? found[0]! : undefined;
    }, 30_000, 200);
    expect(firstRecharge).toMatchObject({ issuedAt: at(0), period: { start: at(0), end: at(0) }, total: { amount: '10.00', currency: 'EUR' } });
    expect(await credits(id)).toMatchObject({
      balance: '2900000',
      cycle: { start: at(0), end: at(30) },
      autoRecharge: { status: 'on', spentThisCycle: { amount: '10.00', currency: 'EUR' } },
    });

    // Still cycle 1: 2,500,000 more tokens take it to 400,000 again; the cycle's limit is spent, so nothing is bought.
    expect((await api.request('POST', '/v1/usage/events', { body: tokens(id, 2_500_000, 'c1-c') })).status).toBe(200);
    await eventually(() => limitNotices(id).length === 1 || undefined, 30_000, 200);
    expect(limitNotices(id)[0]).toContain('spending limit of 10.00 EUR is reached (10.00 EUR spent)');
    expect(await credits(id)).toMatchObject({ balance: '400000', autoRecharge: { spentThisCycle: { amount: '10.00' } } });
    expect(await recharges(id)).toHaveLength(1);

    // Past the renewal (T0+30d) to a day after it: the balance is still under the threshold, the new
    // cycle has a fresh limit, so a pack is bought at the renewal instant, not at the advance's target.
    await advance(api, clock.id, at(31));
    expect((await card(api, id)).currentPeriod).toEqual({ start: at(30), end: at(60) });
    const renewal = await theInvoice(api, id, 'renewal');
    expect(renewal).toMatchObject({ status: 'paid', issuedAt: at(30), period: { start: at(30), end: at(60) }, total: { amount: '9.00', currency: 'EUR' } });
    const rechargeInvoices = await eventually(async () => {
      const found = (await invoicesOf(api, id)).filter((i) => i.reason === 'credit_recharge');
      return found.length === 2 && found.every((i) => i.status === 'paid') ? found : undefined;
    }, 30_000, 200);
    expect(rechargeInvoices.map((i) => [i.issuedAt, i.period.start, i.status, i.total.amount]).sort()).toEqual([
      [at(0), at(0), 'paid', '10.00'],
      [at(30), at(30), 'paid', '10.00'],
    ]);
    // Each recharge counted against its own cycle's limit.
    expect((await recharges(id)).map((p) => [p.cycleStart.toISOString(), p.packId, p.packs, p.amountMinor])).toEqual([
      [at(0), 'standard', 1, 1000n],
      [at(30), 'standard', 1, 1000n],
    ]);
    expect(await credits(id)).toMatchObject({
      balance: '2900000',
      cycle: { start: at(30), end: at(60) },
      autoRecharge: { status: 'on', failures: 0, spentThisCycle: { amount: '10.00', currency: 'EUR' } },
    });
    const history = (await api.request('GET', `/v1/customers/${id}/credits/transactions`)).body.data as Array<{ type: string; credits: string; invoiceNumber: string | null }>;
    expect(history.filter((e) => e.type === 'recharge').map((e) => [e.credits, e.invoiceNumber]).sort()).toEqual(
      rechargeInvoices.map((i) => ['2500000', i.number]).sort(),
    );

    // Cycle 2, at T0+31d: the included 1,000,000 again, then 2,500,000 drawn → 400,000; this cycle's limit is spent too.
    expect((await api.request('POST', '/v1/usage/events', { body: tokens(id, 3_500_000, 'c2-a') })).status).toBe(200);
    await eventually(() => limitNotices(id).length === 2 || undefined, 30_000, 200);
    expect(limitNotices(id)[1]).toContain('spending limit of 10.00 EUR is reached (10.00 EUR spent)');
    expect(await credits(id)).toMatchObject({ balance: '400000', autoRecharge: { spentThisCycle: { amount: '10.00' } } });
    expect(await recharges(id)).toHaveLength(2);
    expect((await invoicesOf(api, id)).filter((i) => i.reason === 'credit_recharge')).toHaveLength(2);
  }, 120_000);
});
