/**
 * Collection through Stripe (stripe-mock behind the fault-injecting proxy, so every request shape
 * is checked against Stripe's API description) and Stripe's signed webhooks, end to end through
 * the API, the subscription workflow and its payment activities.
 */
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type RespondContext, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, paidInvoice, sendWebhook as send, signedEvent, withSavedCard as withSavedCardAt } from '../harness/stripeScenarios.js';

const WEBHOOK_SECRET = 'whsec_test_tollgate_0123456789';
let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
let api: ApiHarness;

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  api = await startApiHarness({
    payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false }),
    stripeWebhookSecret: WEBHOOK_SECRET,
  });
});
afterAll(async () => {
  await api?.close();
  await proxy?.close();
  await mock?.stop();
});
afterEach(() => proxy.clearFaults());

const PAY = PAY_PATH;

/** stripe-mock's fixture customer has no saved card: these tests' customers have one. */
const withSavedCard = () => withSavedCardAt(proxy);

const newId = () => `stripe-${randomUUID().slice(0, 8)}`;

async function createCustomer(id: string, plan = 'pro', extra: Record<string, unknown> = {}) {
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Acme Inc', email: 'billing@acme.test', plan, ...extra } });
  expect(created.status).toBe(201);
  return created;
}

/** A customer on Basic whose first invoice was paid; from now on its card answers with `fault`. */
async function basicCustomerWhoseCardThen(fault: 'card_declined' | 'authentication_required'): Promise<string> {
  const id = newId();
  withSavedCard();
  proxy.inject({ method: 'POST', path: PAY, respond: paidInvoice });
  await createCustomer(id, 'basic');
  proxy.clearFaults();
  withSavedCard();
  proxy.inject({ method: 'POST', path: PAY, error: fault });
  return id;
}

async function firstInvoice(id: string, until: (invoice: Record<string, any>) => boolean) {
  return eventually(async () => {
    const list = await api.request('GET', `/v1/customers/${id}/invoices`);
    const invoice = list.body.data[0] as Record<string, any> | undefined;
    return invoice && until(invoice) ? invoice : undefined;
  });
}

const requestsFor = (path: string | RegExp, key?: string) => proxy.requests.filter((r) => (typeof path === 'string' ? r.path === path : path.test(r.path)) && (key === undefined || r.idempotencyKey === key));

const signed = (event: Parameters<typeof signedEvent>[1], options: { secret?: string; timestamp?: number } = {}) => signedEvent(options.secret ?? WEBHOOK_SECRET, event, options.timestamp);
const sendWebhook = (body: { payload: string; header: string }) => send(api.baseUrl, body);

describe('collection through Stripe', () => {
  it('creates the Stripe customer keyed by the customer id, mirrors the invoice line by line, finalizes it and pays it off-session', async () => {
    const id = newId();
    withSavedCard();
    proxy.inject({ method: 'POST', path: PAY, respond: paidInvoice });
    const answer = await createCustomer(id);
    expect(answer.body.payment).toMatchObject({ status: 'paid', checkoutUrl: null });
    expect(answer.body.subscription.status).toBe('active');
    const invoice = await firstInvoice(id, (i) => i.status === 'paid');

    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id }, include: { customer: true } });
    expect(stored.customer.providerCustomerId).toMatch(/^cus_/);
    expect(stored.providerInvoiceId).toMatch(/^in_/);
    expect(invoice).toMatchObject({
      status: 'paid',
      hostedInvoiceUrl: `https://invoice.stripe.test/${stored.providerInvoiceId}`,
      payment: { provider: { invoiceId: stored.providerInvoiceId, status: 'paid' }, attempts: 1, lastError: null },
    });

    const customerCalls = requestsFor('/v1/customers', `tollgate:customer:${id}:create`);
    expect(customerCalls).toHaveLength(1);
    expect(customerCalls[0]!.params).toMatchObject({ 'metadata[tollgate_customer_id]': id, email: 'billing@acme.test', name: 'Acme Inc' });
    const created = requestsFor('/v1/invoices', `tollgate:invoice:${stored.id}:create`);
    expect(created).toHaveLength(1);
    expect(created[0]!.params).toMatchObject({
      customer: stored.customer.providerCustomerId!,
      currency: 'usd',
      auto_advance: 'false',
      collection_method: 'charge_automatically',
      pending_invoice_items_behavior: 'exclude',
      'metadata[tollgate_invoice_id]': stored.id,
      'metadata[tollgate_invoice_number]': stored.number,
    });
    const lines = requestsFor(`/v1/invoices/${stored.providerInvoiceId}/add_lines`, `tollgate:invoice:${stored.id}:lines`);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.params).toMatchObject({ 'lines[0][amount]': '3000', 'lines[0][description]': invoice.lines[0].description });
    expect(requestsFor(`/v1/invoices/${stored.providerInvoiceId}/finalize`, `tollgate:invoice:${stored.id}:finalize`)).toHaveLength(1);
    const pay = requestsFor(`/v1/invoices/${stored.providerInvoiceId}/pay`, `tollgate:invoice:${stored.id}:pay:1`);
    expect(pay).toHaveLength(1);
    expect(pay[0]!.params).toMatchObject({ off_session: 'true' });
    expect(pay.every((r) => r.upstreamStatus === 200)).toBe(true);
  });

  it('collects nothing for a free plan', async () => {
    const id = newId();
    await createCustomer(id, 'free');
    // The Stripe customer still exists (Checkout and later upgrades need it), but no invoice does.
    await eventually(async () => (await api.database.db.customer.findUniqueOrThrow({ where: { id } })).providerCustomerId);
    expect(await api.database.db.invoice.count({ where: { customerId: id } })).toBe(0);
  });

  it('a charge whose answer is lost three times is retried with the same key: exactly one effective payment', async () => {
    const id = newId();
    withSavedCard();
    proxy.inject({ method: 'POST', path: PAY, respond: paidInvoice });
    // stripe-node's own two retries and its reconnect all lose the answer: the activity fails and
    // Temporal retries it; every attempt carries the same key, and Stripe answers from memory.
    const lost = proxy.inject({ method: 'POST', path: PAY, reset: 'after', times: 3 });
    await createCustomer(id);
    await firstInvoice(id, (i) => i.status === 'paid');
    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id } });
    const key = `tollgate:invoice:${stored.id}:pay:1`;
    expect(lost.fired).toBe(3);
    expect(proxy.countByKey(key)).toBeGreaterThanOrEqual(4);
    expect(proxy.upstreamCount('POST', `/v1/invoices/${stored.providerInvoiceId}/pay`)).toBe(1);
    expect(proxy.effective('POST', `/v1/invoices/${stored.providerInvoiceId}/pay`)).toBe(1);
    expect(stored).toMatchObject({ status: 'paid', collectionAttempts: 1 });
  });

  it('a declined card leaves the invoice open with the reason; Stripe outages are retried, not declines', async () => {
    const id = newId();
    withSavedCard();
    proxy.inject({ method: 'POST', path: '/v1/invoices', error: 'api_error', times: 3 });
    proxy.inject({ method: 'POST', path: PAY, error: 'card_declined' });
    await createCustomer(id);
    const invoice = await firstInvoice(id, (i) => i.payment.lastError !== null);
    expect(invoice).toMatchObject({ status: 'open', payment: { attempts: 1 } });
    // A saved card that declines the first invoice: past due, retried like a renewal.
    const card = await eventually(async () => {
      const answer = await api.request('GET', `/v1/customers/${id}/subscription`);
      return answer.body.status === 'past_due' ? answer.body : undefined;
    });
    expect(card.payment).toMatchObject({ reason: 'past_due', invoiceNumber: invoice.number, failures: 1 });
    expect(invoice.payment.lastError).toMatch(/declined/i);
    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id } });
    expect(proxy.effective('POST', '/v1/invoices')).toBeGreaterThanOrEqual(1);
    expect(requestsFor('/v1/invoices', `tollgate:invoice:${stored.id}:create`).filter((r) => r.executed)).toHaveLength(1);
    // The host hears of the failure once for that attempt (issue 12: invoice.payment_failed).
    const failed = await api.database.db.webhookEvent.findMany({ where: { customerId: id, type: 'invoice.payment_failed' } });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({ number: invoice.number, reason: expect.stringMatching(/declined/i) });
    expect(failed[0]!.dedupeKey).toBe(`invoice.payment_failed:${stored.id}:1`);
  });
});

describe('Checkout and held upgrades over HTTP', () => {
  it('a paid plan without a saved card answers with a Checkout URL; a signed checkout.session.completed pays the first invoice', async () => {
    const id = newId();
    const created = await createCustomer(id, 'pro', { checkout: { successUrl: 'https://app.acme.test/welcome?s={CHECKOUT_SESSION_ID}', cancelUrl: 'https://app.acme.test/pricing' } });
    expect(created.body.subscription.status).toBe('incomplete');
    expect(created.body.payment).toMatchObject({ status: 'checkout_required' });
    expect(created.body.payment.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(created.body.subscription.payment).toMatchObject({ reason: 'checkout', payUrl: created.body.payment.checkoutUrl });
    const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id } });
    const session = requestsFor('/v1/checkout/sessions', `tollgate:invoice:${invoice.id}:checkout`);
    expect(session).toHaveLength(1);
    expect(session[0]!.params).toMatchObject({ mode: 'payment', success_url: 'https://app.acme.test/welcome?s={CHECKOUT_SESSION_ID}', cancel_url: 'https://app.acme.test/pricing' });

    const completed = await sendWebhook(signed({
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      type: 'checkout.session.completed',
      object: { id: 'cs_test_first', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_first', customer: null, metadata: { tollgate_customer_id: id, tollgate_invoice_id: invoice.id } },
    }));
    expect(completed).toEqual({ status: 200, body: { received: true, used: true } });
    await firstInvoice(id, (i) => i.status === 'paid');
    const card = await eventually(async () => {
      const answer = await api.request('GET', `/v1/customers/${id}/subscription`);
      return answer.body.status === 'active' ? answer.body : undefined;
    });
    expect(card).toMatchObject({ plan: { id: 'pro' }, payment: null });
  });

  it('a declined upgrade answers 402 payment_required and changes nothing; a signed invoice.paid applies it', async () => {
    const id = await basicCustomerWhoseCardThen('card_declined');
    const upgrade = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' }, headers: { 'idempotency-key': `up-${id}` } });
    expect(upgrade.status).toBe(402);
    expect(upgrade.body.error).toMatchObject({ code: 'payment_required', details: { upgradeTo: { plan: 'pro' } } });
    expect(upgrade.body.error.message).toMatch(/declined/i);
    const { invoiceNumber, expiresAt } = upgrade.body.error.details;
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(22 * 3_600_000);
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body).toMatchObject({ plan: { id: 'basic' }, payment: { reason: 'upgrade', invoiceNumber, upgradeTo: { plan: 'pro' } } });
    // The same request again is answered as the first was; another change waits.
    expect((await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' }, headers: { 'idempotency-key': `up-${id}` } })).status).toBe(402);
    const other = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'enterprise' } });
    expect([other.status, other.body.error.code]).toEqual([409, 'upgrade_awaiting_payment']);

    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id, number: invoiceNumber }, include: { customer: true } });
    expect((await sendWebhook(signed({ id: `evt_${randomUUID().replaceAll('-', '')}`, type: 'invoice.paid', object: { id: stored.providerInvoiceId, object: 'invoice', customer: stored.customer.providerCustomerId, metadata: { tollgate_invoice_id: stored.id } } }))).status).toBe(200);
    const upgraded = await eventually(async () => {
      const answer = await api.request('GET', `/v1/customers/${id}/subscription`);
      return answer.body.plan.id === 'pro' ? answer.body : undefined;
    });
    expect(upgraded.payment).toBeNull();
  });
});

describe('Stripe webhooks', () => {
  /** A customer whose first invoice was declined: open, mirrored at Stripe. */
  async function declined() {
    const id = newId();
    withSavedCard();
    proxy.inject({ method: 'POST', path: PAY, error: 'card_declined' });
    await createCustomer(id);
    await firstInvoice(id, (i) => i.payment.lastError !== null);
    const stored = await api.database.db.invoice.findFirstOrThrow({ where: { customerId: id }, include: { customer: true } });
    return { id, stored };
  }
  const invoiceEvent = (type: string, stored: { id: string; providerInvoiceId: string | null; customerId: string; customer: { providerCustomerId: string | null } }, eventId = `evt_${randomUUID().replaceAll('-', '')}`) => ({
    id: eventId,
    type,
    object: {
      id: stored.providerInvoiceId,
      object: 'invoice',
      customer: stored.customer.providerCustomerId,
      status: type === 'invoice.paid' ? 'paid' : 'open',
      hosted_invoice_url: `https://invoice.stripe.test/${stored.providerInvoiceId}`,
      metadata: { tollgate_invoice_id: stored.id, tollgate_customer_id: stored.customerId },
    },
  });

  it('a signed invoice.paid pays the open invoice once; the same event again is a duplicate; a late failure changes nothing', async () => {
    const { id, stored } = await declined();
    const paid = invoiceEvent('invoice.paid', stored);
    const first = await sendWebhook(signed(paid));
    expect(first).toEqual({ status: 200, body: { received: true, used: true } });
    await firstInvoice(id, (i) => i.status === 'paid');
    const again = await sendWebhook(signed(paid));
    expect(again).toEqual({ status: 200, body: { received: true, used: true, duplicate: true } });

    const late = await sendWebhook(signed(invoiceEvent('invoice.payment_failed', stored)));
    expect(late.status).toBe(200);
    await eventually(async () => (await api.database.db.paymentEvent.count({ where: { customerId: id, signaledAt: { not: null } } })) === 2);
    const after = await api.database.db.invoice.findUniqueOrThrow({ where: { id: stored.id } });
    expect(after.status).toBe('paid');
    expect(await api.database.db.paymentEvent.count({ where: { customerId: id } })).toBe(2);
  });

  it('out of order: a failure delivered after a later success, and a customer found by its Stripe id alone', async () => {
    const { id, stored } = await declined();
    const failed = invoiceEvent('invoice.payment_failed', stored);
    const paid = invoiceEvent('invoice.paid', stored);
    // The object carries only Stripe's customer id: Tollgate finds its customer by it.
    const object = { ...paid.object, metadata: { tollgate_invoice_id: stored.id } };
    expect((await sendWebhook(signed({ ...paid, object }))).status).toBe(200);
    expect((await sendWebhook(signed(failed))).status).toBe(200);
    await firstInvoice(id, (i) => i.status === 'paid');
    await eventually(async () => (await api.database.db.paymentEvent.count({ where: { customerId: id, signaledAt: { not: null } } })) === 2);
    expect((await api.database.db.invoice.findUniqueOrThrow({ where: { id: stored.id } })).status).toBe('paid');
  });

  it('refuses a bad or stale signature with 400 and records nothing', async () => {
    const { id, stored } = await declined();
    const event = invoiceEvent('invoice.paid', stored);
    const good = signed(event);
    const cases = [
      { ...good, header: signed(event, { secret: 'whsec_another_secret' }).header },
      signed(event, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
      { payload: good.payload.replace('"paid"', '"void"'), header: good.header },
      { payload: good.payload, header: 't=1,v1=deadbeef' },
      { payload: good.payload, header: 'garbage' },
    ];
    for (const body of cases) {
      const answer = await sendWebhook(body);
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('invalid_signature');
    }
    const missing = await fetch(`${api.baseUrl}/v1/stripe/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: good.payload });
    expect(missing.status).toBe(400);
    expect(await api.database.db.paymentEvent.count({ where: { customerId: id } })).toBe(0);
    expect((await api.database.db.invoice.findUniqueOrThrow({ where: { id: stored.id } })).status).toBe('open');
  });

  it('refuses a signed body that is not an event, and an oversized one, recording nothing', async () => {
    const before = await api.database.db.paymentEvent.count();
    const timestamp = Math.floor(Date.now() / 1000);
    for (const payload of ['not json at all', '{"id":', '\u0000']) {
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET, timestamp });
      const answer = await sendWebhook({ payload, header });
      expect([answer.status, answer.body.error.code]).toEqual([400, 'invalid_json']);
    }
    const huge = JSON.stringify({ id: 'evt_huge', type: 'invoice.paid', padding: 'x'.repeat(1_100_000) });
    const answer = await sendWebhook({ payload: huge, header: Stripe.webhooks.generateTestHeaderString({ payload: huge, secret: WEBHOOK_SECRET, timestamp }) });
    expect([answer.status, answer.body.error.code]).toEqual([413, 'payload_too_large']);
    expect(await api.database.db.paymentEvent.count()).toBe(before);
  });

  it('acknowledges events it does not use, and events for no Tollgate customer, without recording them', async () => {
    const unused = await sendWebhook(signed({ id: 'evt_unused_1', type: 'charge.refunded', object: { id: 'ch_1', object: 'charge' } }));
    expect(unused).toEqual({ status: 200, body: { received: true, used: false } });
    const stranger = await sendWebhook(signed({ id: 'evt_stranger_1', type: 'invoice.paid', object: { id: 'in_x', object: 'invoice', customer: 'cus_not_ours', metadata: {} } }));
    expect(stranger).toEqual({ status: 200, body: { received: true, used: false } });
    expect(await api.database.db.paymentEvent.count({ where: { id: { in: ['evt_unused_1', 'evt_stranger_1'] } } })).toBe(0);
  });

  it('an object of one Stripe customer naming another Tollgate customer changes nothing', async () => {
    const victim = await declined();
    const other = await declined();
    const forged = { ...invoiceEvent('invoice.paid', victim.stored), object: { ...invoiceEvent('invoice.paid', victim.stored).object, customer: other.stored.customer.providerCustomerId } };
    expect(await sendWebhook(signed(forged))).toEqual({ status: 200, body: { received: true, used: false } });
    // The right customer, but an invoice of somebody else's: applied to nothing.
    const crossed = invoiceEvent('invoice.paid', { ...other.stored, id: victim.stored.id });
    expect((await sendWebhook(signed(crossed))).status).toBe(200);
    await eventually(async () => (await api.database.db.paymentEvent.count({ where: { customerId: other.id, signaledAt: { not: null } } })) === 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await api.database.db.invoice.findUniqueOrThrow({ where: { id: victim.stored.id } })).status).toBe('open');
  });

  it('Stripe refusing to mark its copy paid is a 502 payment_provider_error, and the invoice stays open', async () => {
    const { id, stored } = await declined();
    proxy.inject({ method: 'POST', path: `/v1/invoices/${stored.providerInvoiceId}/pay`, respond: () => ({ status: 400, json: { error: { type: 'invalid_request_error', code: 'invoice_not_payable', message: 'This invoice cannot be paid.' } } }) });
    const answer = await api.request('POST', `/v1/customers/${id}/invoices/${stored.number}/mark-paid`, { body: { reference: 'cheque 77' } });
    expect([answer.status, answer.body.error.code]).toEqual([502, 'payment_provider_error']);
    expect((await api.database.db.invoice.findUniqueOrThrow({ where: { id: stored.id } })).status).toBe('open');
  });

  it('an operator marks a declined invoice paid: Stripe marks its copy paid out of band', async () => {
    const { id, stored } = await declined();
    const answer = await api.request('POST', `/v1/customers/${id}/invoices/${stored.number}/mark-paid`, { body: { reference: 'cheque 1182' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'paid', payment: { reference: 'cheque 1182' } });
    const oob = requestsFor(`/v1/invoices/${stored.providerInvoiceId}/pay`, `tollgate:invoice:${stored.id}:paid_out_of_band`);
    expect(oob).toHaveLength(1);
    expect(oob[0]!.params).toMatchObject({ paid_out_of_band: 'true' });
  });
});

describe('more of Stripe', () => {
  it('an imported customer brings its Stripe customer: no second one is created, and it is charged', async () => {
    const id = newId();
    withSavedCard();
    proxy.inject({ method: 'POST', path: PAY, respond: paidInvoice });
    await createCustomer(id, 'pro', { stripeCustomerId: 'cus_ImportedAcme1' });
    const row = await api.database.db.customer.findUniqueOrThrow({ where: { id } });
    expect(row.providerCustomerId).toBe('cus_ImportedAcme1');
    await firstInvoice(id, (i) => i.status === 'paid');
    expect(requestsFor('/v1/customers', `tollgate:customer:${id}:create`)).toHaveLength(0);
    expect(requestsFor('/v1/invoices').find((r) => r.params['metadata[tollgate_customer_id]'] === id)?.params.customer).toBe('cus_ImportedAcme1');
    const taken = await api.request('POST', '/v1/customers', { body: { id: `${id}-2`, name: 'Copy', email: 'copy@acme.test', plan: 'pro', stripeCustomerId: 'cus_ImportedAcme1' } });
    expect([taken.status, taken.body.error.code]).toEqual([409, 'stripe_customer_taken']);
    const bad = await api.request('POST', '/v1/customers', { body: { id: `${id}-3`, name: 'Bad', email: 'bad@acme.test', plan: 'pro', stripeCustomerId: 'acct_123' } });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('an upgrade the bank wants authenticated answers 402 with the page to pay on', async () => {
    const id = await basicCustomerWhoseCardThen('authentication_required');
    const upgrade = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'enterprise' } });
    expect(upgrade.status).toBe(402);
    expect(upgrade.body.error).toMatchObject({ code: 'payment_required', details: { declineCode: 'authentication_required', upgradeTo: { plan: 'enterprise' } } });
    expect((await api.request('GET', `/v1/customers/${id}/subscription`)).body.plan.id).toBe('basic');
  });

  it('an operator marking a held upgrade\'s invoice paid applies the upgrade', async () => {
    const id = await basicCustomerWhoseCardThen('card_declined');
    const upgrade = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro' } });
    expect(upgrade.status).toBe(402);
    const settled = await api.request('POST', `/v1/customers/${id}/invoices/${upgrade.body.error.details.invoiceNumber}/mark-paid`, { body: { reference: 'wire 99' } });
    expect(settled.status).toBe(200);
    const card = await api.request('GET', `/v1/customers/${id}/subscription`);
    expect(card.body).toMatchObject({ plan: { id: 'pro' }, payment: null });
  });
});

describe('Stripe Tax', () => {
  let taxed: ApiHarness;
  beforeAll(async () => {
    taxed = await startApiHarness({ payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: true }), stripeWebhookSecret: WEBHOOK_SECRET });
  });
  afterAll(async () => {
    await taxed?.close();
  });

  it('STRIPE_TAX=on: Stripe computes the tax; it becomes a tax line and part of the total', async () => {
    const id = newId();
    withSavedCard();
    proxy.inject({
      method: 'POST', path: /^\/v1\/invoices\/[^/]+\/finalize$/,
      respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), status: 'open', total_taxes: [{ amount: 240, tax_behavior: 'exclusive', taxability_reason: 'standard_rated', taxable_amount: 3000, type: 'tax_rate_details' }] } }),
    });
    proxy.inject({ method: 'POST', path: PAY, respond: paidInvoice });
    const created = await taxed.request('POST', '/v1/customers', { body: { id, name: 'Taxed Co', email: 'tax@acme.test', plan: 'pro' } });
    expect(created.status).toBe(201);
    const invoice = await eventually(async () => {
      const list = await taxed.request('GET', `/v1/customers/${id}/invoices`);
      const first = list.body.data[0];
      return first?.status === 'paid' ? first : undefined;
    });
    expect(invoice).toMatchObject({ subtotal: { amount: '30.00' }, tax: { amount: '2.40' }, total: { amount: '32.40' } });
    expect(invoice.lines.map((l: { kind: string; amount: { amount: string } }) => [l.kind, l.amount.amount])).toEqual([['plan', '30.00'], ['tax', '2.40']]);
    expect(requestsFor('/v1/invoices').find((r) => r.params['metadata[tollgate_customer_id]'] === id)?.params).toMatchObject({ 'automatic_tax[enabled]': 'true' });
  });
});
