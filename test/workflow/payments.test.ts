/**
 * Payments in the subscription workflow over days of workflow time, on the Java time-skipping
 * test server, with the real activities, a real PostgreSQL, and Stripe played by stripe-mock
 * behind the fault-injecting proxy (which decides whether a card pays or is declined):
 * dunning on its schedule, upgrades applied only once paid, and a first invoice on Checkout.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { insertCustomer } from '../../store/customerStore.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import {
  cancelUpdate,
  changePlanUpdate,
  firstPaymentUpdate,
  paymentEventSignal,
  type PaymentEvent,
} from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { subscriptionWorkflow } from '../../workflows/subscriptionWorkflow.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type RespondContext, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { CUSTOMER_PATH as CUSTOMER, PAY_PATH, withSavedCard as withSavedCardAt } from '../harness/stripeScenarios.js';
import { serverNow, skipBounded, startTimeSkipping, stateOf, terminateWhenIdle, testServerWorker } from '../harness/timeSkipping.js';

const catalog = loadCatalog();
let env: TestWorkflowEnvironment;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
const taskQueue = `payments-${randomUUID()}`;

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  [env, database] = await Promise.all([startTimeSkipping(), createTestDatabase()]);
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  worker = await testServerWorker({ env, database, taskQueue, payments: new StripePaymentProvider({ secretKey: 'sk_test_payments', apiBase: proxy.url, automaticTax: false }), catalog });
  running = worker.run();
});

const started: string[] = [];
afterEach(async () => {
  proxy.clearFaults();
  await terminateWhenIdle(env, started);
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await database?.close();
  await proxy?.close();
  await mock?.stop();
});

const PAY = PAY_PATH;

/** The customer has a saved card (stripe-mock's fixture customer has none). */
const withSavedCard = () => withSavedCardAt(proxy);
/** Every payment goes through from now on (each with a payment intent of its own, to refund against). */
let payments = 0;
const cardPays = () => proxy.inject({
  method: 'POST', path: PAY, times: Number.POSITIVE_INFINITY,
  respond: ({ upstream }: RespondContext) => ({
    status: 200,
    json: { ...(upstream.json as object), status: 'paid', hosted_invoice_url: 'https://invoice.stripe.test/paid', payments: { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: `pi_test_${++payments}` } }] } },
  }),
});
const cardDeclines = () => proxy.inject({ method: 'POST', path: PAY, error: 'card_declined', times: Number.POSITIVE_INFINITY });

async function subscribe(planId: string, options: { endsInMs?: number; checkout?: boolean; catalog?: typeof catalog } = {}) {
  const customerId = `pay-${randomUUID().slice(0, 8)}`;
  const now = await serverNow(env);
  const input = newSubscriptionInput({
    catalog: options.catalog ?? catalog, customerId, planId, interval: 'monthly', seats: 1, now,
    ...(options.endsInMs !== undefined ? { importedPeriodStart: now - 30 * DAY_MS + options.endsInMs } : {}),
    paymentProvider: 'stripe',
    ...(options.checkout ? { checkoutUrls: { successUrl: 'https://app.test/done', cancelUrl: 'https://app.test/cancel' } } : {}),
  });
  await insertCustomer(database.db, { id: customerId, name: 'Acme', email: 'billing@acme.test' }, input);
  const handle = await startSubscriptionWorkflow(env.client, taskQueue, input);
  started.push(handle.workflowId);
  return { customerId, handle, input };
}

const skip = (duration: string) => skipBounded(env, started, duration);
const eventId = () => `evt_${randomUUID().replaceAll('-', '')}`;
const signal = (handle: WorkflowHandle<typeof subscriptionWorkflow>, event: Omit<PaymentEvent, 'eventId' | 'occurredAt'>) =>
  handle.signal(paymentEventSignal, { eventId: eventId(), occurredAt: Date.now(), ...event });

const payKeys = (invoiceId: string) => proxy.requests.filter((r) => PAY.test(r.path) && r.idempotencyKey?.startsWith(`tollgate:invoice:${invoiceId}:pay:`)).map((r) => r.idempotencyKey);

describe('dunning', () => {
  it('a declined renewal makes the subscription past due; retries follow the schedule; a new card pays at once and it is active again', async () => {
    withSavedCard();
    const declines = cardDeclines();
    const { customerId, handle, input } = await subscribe('pro', { endsInMs: 60_000 });
    await skip('2 minutes');
    const pastDue = await eventually(async () => {
      const state = await stateOf(handle);
      return state.status === 'past_due' ? state : undefined;
    });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'renewal' } });
    expect(pastDue.payment).toMatchObject({ reason: 'past_due', invoiceNumber: invoice.number, failures: 1 });
    const firstFailure = pastDue.payment!.until! - DAY_MS;
    expect(firstFailure).toBeGreaterThanOrEqual(input.periodEnd);
    const row = await database.db.subscription.findUniqueOrThrow({ where: { customerId } });
    expect(row.status).toBe('past_due');

    // One day after the failure: the second attempt (its own key), declined; the next in 3 days.
    await skip('1 day');
    const second = await eventually(async () => {
      const state = await stateOf(handle);
      return state.payment?.failures === 2 ? state : undefined;
    });
    expect(second.payment?.until).toBe(firstFailure + 3 * DAY_MS);
    expect(declines.fired).toBe(2);

    // The customer saves a new card: retried at once, paid, active.
    proxy.clearFaults();
    withSavedCard();
    cardPays();
    await signal(handle, { kind: 'payment_method_updated' });
    const active = await eventually(async () => {
      const state = await stateOf(handle);
      return state.status === 'active' ? state : undefined;
    });
    expect(active.payment).toBeNull();
    expect(active.planId).toBe('pro');
    expect((await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status).toBe('paid');
    expect(payKeys(invoice.id)).toEqual([`tollgate:invoice:${invoice.id}:pay:1`, `tollgate:invoice:${invoice.id}:pay:2`, `tollgate:invoice:${invoice.id}:pay:3`]);
    // Each failure told the customer (email here, reported skipped: no SMTP in this test).
    const told = await eventually(async () => {
      const rows = await database.db.paymentNoticeDelivery.findMany({ where: { customerId }, orderBy: { noticeId: 'asc' } });
      return rows.length === 2 ? rows : undefined;
    });
    expect(told.map((r) => [r.noticeId, r.channel])).toEqual([[`${invoice.id}:failed:1`, 'email'], [`${invoice.id}:failed:2`, 'email']]);
    await eventually(async () => (await database.db.subscription.findUniqueOrThrow({ where: { customerId } })).status === 'active');
  });

  it('after the last failed retry (1, 3 and 7 days) the catalog\'s final action applies: the fallback plan at once, the invoice void', async () => {
    withSavedCard();
    cardDeclines();
    const { customerId, handle } = await subscribe('pro', { endsInMs: 60_000 });
    await skip('2 minutes');
    await eventually(async () => (await stateOf(handle)).status === 'past_due');
    for (const [wait, failures] of [['1 day', 2], ['2 days', 3]] as const) {
      await skip(wait);
      await eventually(async () => (await stateOf(handle)).payment?.failures === failures);
    }
    await skip('4 days');
    const final = await eventually(async () => {
      const state = await stateOf(handle);
      return state.planId === 'free' ? state : undefined;
    });
    expect(final).toMatchObject({ status: 'active', payment: null, planId: 'free' });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'renewal' } });
    expect(invoice.status).toBe('void');
    expect(payKeys(invoice.id)).toHaveLength(4);
    expect(proxy.requests.filter((r) => r.path === `/v1/invoices/${invoice.providerInvoiceId}/void`)).toHaveLength(1);
    const told = await eventually(async () => {
      const rows = await database.db.paymentNoticeDelivery.findMany({ where: { customerId } });
      return rows.length === 4 ? rows.map((r) => r.noticeId).sort() : undefined;
    });
    expect(told).toEqual([`${invoice.id}:failed:1`, `${invoice.id}:failed:2`, `${invoice.id}:failed:3`, `${invoice.id}:final`]);
  });

  it('a new card that is declined too does not use up a scheduled retry', async () => {
    withSavedCard();
    const declines = cardDeclines();
    const { customerId, handle } = await subscribe('pro', { endsInMs: 60_000 });
    await skip('2 minutes');
    const pastDue = await eventually(async () => {
      const state = await stateOf(handle);
      return state.status === 'past_due' ? state : undefined;
    });
    await signal(handle, { kind: 'payment_method_updated' });
    await eventually(() => declines.fired === 2);
    const after = await eventually(async () => {
      const state = await stateOf(handle);
      return state.version > pastDue.version ? state : undefined;
    });
    expect(after.payment).toMatchObject({ reason: 'past_due', failures: 1, until: pastDue.payment!.until });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'renewal' } });
    expect(payKeys(invoice.id)).toEqual([`tollgate:invoice:${invoice.id}:pay:1`, `tollgate:invoice:${invoice.id}:pay:2`]);
    const told = await eventually(async () => {
      const rows = await database.db.paymentNoticeDelivery.findMany({ where: { customerId } });
      return rows.length === 2 ? rows.map((r) => r.noticeId).sort() : undefined;
    });
    expect(told).toEqual([`${invoice.id}:card:1`, `${invoice.id}:failed:1`]);
  });

  it('a past-due invoice paid through a webhook ends dunning', async () => {
    withSavedCard();
    cardDeclines();
    const { customerId, handle } = await subscribe('basic', { endsInMs: 60_000 });
    await skip('2 minutes');
    await eventually(async () => (await stateOf(handle)).status === 'past_due');
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'renewal' } });
    await signal(handle, { kind: 'invoice_paid', invoiceId: invoice.id, reference: 'pi_paid_on_page' });
    await eventually(async () => (await stateOf(handle)).status === 'active');
    expect((await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status).toBe('paid');
  });
});

describe('upgrades wait for their payment', () => {
  it('a declined upgrade is not applied; paying it (webhook) applies it', async () => {
    withSavedCard();
    cardPays();
    const { customerId, handle } = await subscribe('basic');
    await eventually(async () => (await database.db.invoice.findFirst({ where: { customerId, status: 'paid' } })) !== null);
    proxy.clearFaults();
    withSavedCard();
    cardDeclines();
    const usage = { api_calls: '0' };
    const state = await stateOf(handle);
    const result = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'pro', usage, usageCycleStart: state.cycleStart }] });
    expect(result).toMatchObject({ applied: false, kind: 'upgrade', payment: { outcome: 'failed', code: 'card_declined' } });
    expect(result.subscription.planId).toBe('basic');
    expect(result.subscription.payment).toMatchObject({ reason: 'upgrade', invoiceNumber: result.invoiceNumber, upgradeTo: { planId: 'pro' } });
    // Other changes wait until it is settled.
    await expect(handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'enterprise', usage, usageCycleStart: state.cycleStart }] })).rejects.toMatchObject({ cause: { type: 'upgrade_awaiting_payment' } });

    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, number: result.invoiceNumber! } });
    await signal(handle, { kind: 'invoice_paid', invoiceId: invoice.id });
    const upgraded = await eventually(async () => {
      const s = await stateOf(handle);
      return s.planId === 'pro' ? s : undefined;
    });
    expect(upgraded.payment).toBeNull();
    expect((await database.db.subscription.findUniqueOrThrow({ where: { customerId } })).planId).toBe('pro');
  });

  it('an upgrade paid at once is applied at once', async () => {
    withSavedCard();
    cardPays();
    const { handle } = await subscribe('basic');
    const state = await stateOf(handle);
    const result = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'pro', usage: { api_calls: '0' }, usageCycleStart: state.cycleStart }] });
    expect(result).toMatchObject({ applied: true, payment: { outcome: 'paid' } });
    expect(result.subscription.planId).toBe('pro');
  });

  it('an unpaid upgrade expires after 23 hours: its invoice voided, nothing changed, its credit owed again', async () => {
    withSavedCard();
    cardPays();
    const { customerId, handle } = await subscribe('pro');
    await eventually(async () => (await database.db.invoice.findFirst({ where: { customerId, status: 'paid' } })) !== null);
    const before = await stateOf(handle);
    const downgrade = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'basic', usage: { api_calls: '0' }, usageCycleStart: before.cycleStart }] });
    const credit = BigInt(downgrade.subscription.creditOwedMinor);
    expect(credit).toBeGreaterThan(0n);
    proxy.clearFaults();
    withSavedCard();
    cardDeclines();
    const result = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'enterprise', usage: { api_calls: '0' }, usageCycleStart: before.cycleStart }] });
    expect(result.applied).toBe(false);
    expect(BigInt(result.creditAppliedMinor ?? '0')).toBe(credit);
    expect(result.subscription.creditOwedMinor).toBe('0');
    await skip('23 hours');
    await skip('1 minute');
    const after = await eventually(async () => {
      const s = await stateOf(handle);
      return s.payment === null ? s : undefined;
    });
    expect(after).toMatchObject({ planId: 'basic', creditOwedMinor: credit.toString() });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, number: result.invoiceNumber! } });
    expect(invoice.status).toBe('void');
  });
});

describe('the first invoice on Checkout', () => {
  it('without a saved card: a Checkout URL, incomplete until paid; checkout.session.completed makes it active and keeps the card', async () => {
    proxy.inject({
      method: 'GET', path: /^\/v1\/checkout\/sessions\/[^/]+$/, times: Number.POSITIVE_INFINITY,
      respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), status: 'complete', payment_status: 'paid', payment_intent: { id: 'pi_checkout', object: 'payment_intent', payment_method: 'pm_from_checkout' } } }),
    });
    const { customerId, handle } = await subscribe('pro', { checkout: true });
    const first = await handle.executeUpdate(firstPaymentUpdate);
    expect(first).toMatchObject({ status: 'incomplete', outcome: 'checkout_required' });
    expect(first.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    const session = proxy.requests.find((r) => r.path === '/v1/checkout/sessions' && r.method === 'POST')!;
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId } });
    expect(session.params).toMatchObject({ mode: 'payment', 'line_items[0][price_data][unit_amount]': '3000', 'payment_intent_data[setup_future_usage]': 'off_session', 'metadata[tollgate_invoice_id]': invoice.id, success_url: 'https://app.test/done' });
    expect(session.idempotencyKey).toBe(`tollgate:invoice:${invoice.id}:checkout`);
    expect((await database.db.subscription.findUniqueOrThrow({ where: { customerId } })).status).toBe('incomplete');

    await signal(handle, { kind: 'checkout_completed', invoiceId: invoice.id, checkoutSessionId: 'cs_test_1', reference: 'pi_checkout' });
    await eventually(async () => (await stateOf(handle)).status === 'active');
    expect((await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status).toBe('paid');
    const saved = proxy.requests.filter((r) => r.method === 'POST' && CUSTOMER.test(r.path) && r.params['invoice_settings[default_payment_method]'] === 'pm_from_checkout');
    expect(saved).toHaveLength(1);
  });

  it('a Checkout page that lapses unpaid leaves the customer on the fallback plan, the first invoice void', async () => {
    const { customerId, handle } = await subscribe('pro', { checkout: true });
    expect((await handle.executeUpdate(firstPaymentUpdate)).status).toBe('incomplete');
    await skip('24 hours');
    await skip('15 minutes');
    const lapsed = await eventually(async () => {
      const s = await stateOf(handle);
      return s.planId === 'free' ? s : undefined;
    });
    expect(lapsed).toMatchObject({ status: 'active', payment: null });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId } });
    expect(invoice.status).toBe('void');
    expect(proxy.requests.some((r) => /^\/v1\/checkout\/sessions\/[^/]+\/expire$/.test(r.path))).toBe(true);
  });
});

describe('credit owed on the fallback plan', () => {
  async function paidProCustomer(options: { catalog?: typeof catalog } = {}) {
    withSavedCard();
    cardPays();
    const subscribed = await subscribe('pro', options);
    await eventually(async () => (await database.db.invoice.findFirst({ where: { customerId: subscribed.customerId, status: 'paid' } })) !== null);
    return subscribed;
  }

  it('is refunded to the card that paid the last invoice, once, and shown as a credit note', async () => {
    const { customerId, handle } = await paidProCustomer();
    const paid = await database.db.invoice.findFirstOrThrow({ where: { customerId, status: 'paid' } });
    expect(paid.paymentReference).toMatch(/^pi_test_/);
    const state = await stateOf(handle);
    const result = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'free', usage: { api_calls: '0' }, usageCycleStart: state.cycleStart }] });
    const owed = -BigInt(result.netMinor);
    expect(owed).toBeGreaterThan(0n);
    const note = await eventually(async () => database.db.invoice.findFirst({ where: { customerId, reason: 'refund' }, include: { lines: true } }));
    expect(note).toMatchObject({ status: 'paid', totalMinor: -owed });
    expect(note.lines).toEqual([expect.objectContaining({ kind: 'refund', amountMinor: -owed, description: `Credit owed refunded to the card that paid ${paid.number}` })]);
    const refunds = proxy.requests.filter((r) => r.path === '/v1/refunds');
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.params).toMatchObject({ payment_intent: paid.paymentReference!, amount: owed.toString() });
    expect(refunds[0]!.idempotencyKey).toMatch(new RegExp(`^tollgate:refund:refund:${customerId}:v\\d+:${paid.id}$`));
    const after = await eventually(async () => {
      const s = await stateOf(handle);
      return s.payment === null && s.creditOwedMinor === '0' ? s : undefined;
    });
    expect(after.planId).toBe('free');
    expect(await database.db.creditRefund.count({ where: { customerId } })).toBe(1);
  });

  it('left when a cancellation takes effect at the period end is refunded by the next run', async () => {
    const { customerId, handle } = await paidProCustomer();
    const state = await stateOf(handle);
    const downgrade = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'basic', usage: { api_calls: '0' }, usageCycleStart: state.cycleStart }] });
    const owed = BigInt(downgrade.subscription.creditOwedMinor);
    expect(owed).toBeGreaterThan(0n);
    await handle.executeUpdate(cancelUpdate);
    await skip('30 days');
    const note = await eventually(async () => database.db.invoice.findFirst({ where: { customerId, reason: 'refund' } }));
    expect(note.totalMinor).toBe(-owed);
    const after = await eventually(async () => {
      const s = await stateOf(handle);
      return s.planId === 'free' && s.payment === null ? s : undefined;
    });
    expect(after.creditOwedMinor).toBe('0');
  });

  it('is kept when the catalog says so', async () => {
    const keeping = { ...catalog, payments: { creditOnFallback: 'keep' as const } };
    const { customerId, handle } = await paidProCustomer({ catalog: keeping });
    const state = await stateOf(handle);
    const result = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'free', usage: { api_calls: '0' }, usageCycleStart: state.cycleStart }] });
    expect(BigInt(result.subscription.creditOwedMinor)).toBe(-BigInt(result.netMinor));
    // A refund would have taken the credit in the same workflow task as the answer.
    expect((await stateOf(handle)).creditOwedMinor).toBe(result.subscription.creditOwedMinor);
    expect(await database.db.invoice.count({ where: { customerId, reason: 'refund' } })).toBe(0);
  });
});
