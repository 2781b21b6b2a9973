/**
 * Test clocks (issue 14) through the API on the dev server: a customer on a clock runs on the
 * clock's time, and advancing the clock does, in order, everything that would have happened in
 * between — renewals invoiced on their own dates, overage billed on the renewal, alerts in the
 * cycle the usage crossed them, downgrades landing at the period end — the same whether the clock
 * moves in one step or in many. Real-time customers beside them are untouched, only the clock's
 * workflows carry the TestClock search attribute, refusals change nothing, and deleting a clock
 * ends its customers. Everything is real (API, relay, worker, PostgreSQL, Temporal); mail and
 * Slack land on loopback receivers.
 */
import { randomUUID } from 'node:crypto';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/loadCatalog.js';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { advance, at, clockCustomer, clockCustomerName, createClock, getClock, invoicesByPeriod, settledAdvance, subscriptionCard, type Clock } from '../harness/testClocks.js';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../harness/receivers.js';

/** The contract's search attribute, named here as an operator would type it (not the worker's constant). */
const TEST_CLOCK = defineSearchAttributeKey('TestClock', SearchAttributeType.KEYWORD);

const dayOf = (days: number) => at(days).slice(0, 10);

interface InvoiceLineJson {
  kind: string;
  description: string;
  quantity: string;
  unitPrice: { amount: string; currency: string };
  amount: { amount: string; currency: string };
  period: { start: string; end: string };
}

interface InvoiceJson {
  id: string;
  number: string;
  status: string;
  reason: string;
  issuedAt: string;
  period: { start: string; end: string };
  subtotal: { amount: string; currency: string };
  tax: { amount: string; currency: string };
  total: { amount: string; currency: string };
  lines: InvoiceLineJson[];
}

const nameOf = clockCustomerName;

async function realTimeCustomer(h: ApiHarness, plan: string): Promise<string> {
  const id = `rt-${randomUUID().slice(0, 8)}`;
  const res = await h.request('POST', '/v1/customers', { body: { id, name: `Real Co ${id}`, email: `${id}@real.test`, plan } });
  expect(res.status).toBe(201);
  return id;
}

const card = subscriptionCard;
const invoicesOf = (h: ApiHarness, id: string) => invoicesByPeriod<InvoiceJson>(h, id);

/** What an invoice says, without what differs between customers by construction (ids, numbers, links). */
const billed = (invoice: InvoiceJson) => ({
  reason: invoice.reason,
  status: invoice.status,
  issuedAt: invoice.issuedAt,
  period: invoice.period,
  subtotal: invoice.subtotal,
  tax: invoice.tax,
  total: invoice.total,
  lines: invoice.lines.map((l) => ({ kind: l.kind, description: l.description, quantity: l.quantity, unitPrice: l.unitPrice, amount: l.amount, period: l.period })),
});

/** Reason, period, issue date and total: the outline of a customer's billing history. */
const outline = (invoices: InvoiceJson[]) => invoices.map((i) => [i.reason, i.period.start, i.period.end, i.issuedAt, i.total.amount]);

const usageEvent = (customerId: string, idempotencyKey: string, quantity: number) =>
  ({ customerId, metric: 'api_calls', quantity, idempotencyKey });

const change = (h: ApiHarness, id: string, body: Record<string, unknown>) => h.request('POST', `/v1/customers/${id}/subscription/change`, { body });

/** Running subscription workflows a visibility query finds (one per customer: closed runs left out). */
async function running(h: ApiHarness, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of h.temporal.workflow.list({ query: `${query} AND ExecutionStatus = "Running"` })) ids.push(wf.workflowId);
  return ids.sort();
}

const testClockOf = async (h: ApiHarness, customerId: string) =>
  (await h.temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).describe()).typedSearchAttributes.get(TEST_CLOCK);

/** A clock id of the server's own shape that no clock has: the suffix of a real one, reversed. */
const unknownClockId = (like: string) => `clock_${[...like.slice('clock_'.length)].reverse().join('')}`;

describe('test clocks on the default catalog', () => {
  let api: ApiHarness;
  let smtp: SmtpReceiver;
  let slack: HttpReceiver;

  beforeAll(async () => {
    [smtp, slack] = await Promise.all([startSmtpReceiver(), startHttpReceiver()]);
    api = await startApiHarness({ senders: { smtpUrl: smtp.url, timeoutMs: 2_000 } });
  });
  afterAll(async () => {
    await api?.close();
    await Promise.all([smtp?.close(), slack?.close()]);
  });

  const emailsFor = (id: string) => smtp.messages.filter((m) => m.subject.includes(nameOf(id)));
  const slackFor = (id: string) => slack.requests.filter((r) => r.path === `/slack/T0000/B0000/${id}`);
  const settle = () => new Promise((r) => setTimeout(r, 1_500));

  it('one advance of 90 days renews three times: each renewal invoiced at its period start, on consecutive 30-day periods', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    // The subscription starts at the clock's time, not at the real one.
    expect((await card(api, id)).currentPeriod).toEqual({ start: at(0), end: at(30) });
    expect((await getClock(api, clock.id)).body).toMatchObject({ id: clock.id, status: 'ready', customers: [id] });
    const listed = await api.request('GET', '/v1/test-clocks');
    expect(listed.status).toBe(200);
    expect(listed.body.testClocks.map((c: Clock) => c.id)).toContain(clock.id);

    const advanced = await advance(api, clock.id, at(90));
    expect(advanced.customers).toEqual([id]);

    // The first period's invoice, then one renewal per period boundary passed (the target itself is one).
    const invoices = await invoicesOf(api, id);
    expect(outline(invoices)).toEqual([
      ['subscription_create', at(0), at(30), at(0), '10.00'],
      ['renewal', at(30), at(60), at(30), '10.00'],
      ['renewal', at(60), at(90), at(60), '10.00'],
      ['renewal', at(90), at(120), at(90), '10.00'],
    ]);
    for (const invoice of invoices) {
      expect(invoice.lines.map((l) => [l.kind, l.amount.amount, l.amount.currency])).toEqual([['plan', '10.00', 'USD']]);
    }
    expect(await card(api, id)).toMatchObject({ plan: { id: 'basic' }, status: 'active', currentPeriod: { start: at(90), end: at(120) }, currentCycle: { start: at(90), end: at(120) } });
  });

  it('alerts 80% and 100% in the cycle usage crossed them and 80% again in the next cycle, each once, naming its own cycle', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    const put = await api.request('PUT', `/v1/customers/${id}/alert-channels`, {
      body: { email: { to: ['ops@clock.test'] }, slack: { webhookUrl: `${slack.baseUrl}/slack/T0000/B0000/${id}` } },
    });
    expect(put.status).toBe(200);

    // Cycle 1 (T0 … T0+30d): 80% at its start; usage without a timestamp lands at the clock's time.
    const eighty = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'c1-80', 24_000) });
    expect(eighty.status).toBe(200);
    expect(eighty.body).toMatchObject({ used: 24_000, limit: 30_000 });
    await eventually(() => emailsFor(id).length === 1 && slackFor(id).length === 1);

    // Ten days later, still in cycle 1: up to the limit.
    await advance(api, clock.id, at(10));
    const hundred = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'c1-100', 6_000) });
    expect(hundred.status).toBe(200);
    expect(hundred.body).toMatchObject({ used: 30_000, limit: 30_000 });
    await eventually(() => emailsFor(id).length === 2 && slackFor(id).length === 2);

    // Into cycle 2 (T0+30d … T0+60d): a fresh count, and 80% of it alerts again.
    await advance(api, clock.id, at(35));
    const again = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'c2-80', 24_000) });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ used: 24_000, limit: 30_000 });
    await eventually(() => emailsFor(id).length === 3 && slackFor(id).length === 3);

    // Nothing more comes: the advance neither repeats an alert nor sends one for a cycle twice.
    await settle();
    expect([emailsFor(id).length, slackFor(id).length]).toEqual([3, 3]);
    const emails = emailsFor(id);
    expect(emails.map((m) => m.subject.includes('80%'))).toEqual([true, false, true]);
    expect(emails[1]!.subject).toContain('limit reached');
    // Each names the end of its own cycle.
    expect(emails[0]!.text).toContain(`24,000 of 30,000 calls used (80%) this billing cycle, which ends ${dayOf(30)}.`);
    expect(emails[1]!.text).toContain(`30,000 of 30,000 calls used (100%) this billing cycle, which ends ${dayOf(30)}.`);
    expect(emails[2]!.text).toContain(`24,000 of 30,000 calls used (80%) this billing cycle, which ends ${dayOf(60)}.`);
    const slackTexts = slackFor(id).map((r) => JSON.stringify(r.body));
    expect(slackTexts.map((t) => t.includes(`which ends ${dayOf(30)}`))).toEqual([true, true, false]);
    expect(slackTexts[2]).toContain(`which ends ${dayOf(60)}`);

    const alerts = await api.request('GET', `/v1/customers/${id}/alerts`);
    expect(alerts.body.data.map((a: { threshold: number; cycle: { start: string; end: string }; used: number }) => [a.threshold, a.cycle.start, a.cycle.end, a.used])).toEqual([
      [80, at(30), at(60), 24_000],
      [100, at(0), at(30), 30_000],
      [80, at(0), at(30), 24_000],
    ]);
  });

  it('an Enterprise customer 10,000 calls over in its first cycle pays $5.00 of overage on the renewal invoice', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'enterprise');
    const used = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'over', 1_010_000) });
    expect(used.status).toBe(200);

    await advance(api, clock.id, at(30));
    const invoices = await invoicesOf(api, id);
    expect(outline(invoices)).toEqual([
      ['subscription_create', at(0), at(30), at(0), '100.00'],
      ['renewal', at(30), at(60), at(30), '105.00'],
    ]);
    const renewal = invoices[1]!;
    expect(renewal.lines.map((l) => [l.kind, l.amount.amount])).toEqual([['plan', '100.00'], ['overage', '5.00']]);
    // The overage line is the closed cycle's: 10,000 × $0.0005.
    expect(renewal.lines[1]).toMatchObject({ quantity: '10000', amount: { amount: '5.00', currency: 'USD' }, period: { start: at(0), end: at(30) } });
    const overage = await api.request('GET', `/v1/customers/${id}/overage`);
    expect(overage.body.data).toEqual([expect.objectContaining({ cycle: { start: at(0), end: at(30) }, overage: 10_000, charge: { amount: '5.00', currency: 'USD' }, invoiceNumber: renewal.number })]);
  });

  it('nine advances of 10 days leave the same invoices and card as one advance of 90 days', async () => {
    const [stepped, jumped] = await Promise.all([createClock(api), createClock(api)]);
    const small = await clockCustomer(api, stepped.id, 'enterprise');
    const big = await clockCustomer(api, jumped.id, 'enterprise');
    // The same usage, at the same clock instant: overage in the first cycle, billed at the first renewal.
    for (const id of [small, big]) {
      expect((await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'first-cycle', 1_010_000) })).status).toBe(200);
    }

    for (let step = 1; step <= 9; step++) await advance(api, stepped.id, at(step * 10));
    await advance(api, jumped.id, at(90));

    const [byStep, byJump] = await Promise.all([invoicesOf(api, small), invoicesOf(api, big)]);
    expect(outline(byJump)).toEqual([
      ['subscription_create', at(0), at(30), at(0), '100.00'],
      ['renewal', at(30), at(60), at(30), '105.00'],
      ['renewal', at(60), at(90), at(60), '100.00'],
      ['renewal', at(90), at(120), at(90), '100.00'],
    ]);
    expect(byStep.map(billed)).toEqual(byJump.map(billed));

    const [smallCard, bigCard] = await Promise.all([card(api, small), card(api, big)]);
    expect({ ...smallCard, customerId: undefined }).toEqual({ ...bigCard, customerId: undefined });
    expect(bigCard.currentPeriod).toEqual({ start: at(90), end: at(120) });
  }, 180_000);

  it('a real-time customer beside clock customers is untouched, and only the clock customers\' workflows carry TestClock', async () => {
    const real = await realTimeCustomer(api, 'basic');
    const [clockA, clockB] = await Promise.all([createClock(api), createClock(api)]);
    const a1 = await clockCustomer(api, clockA.id, 'basic');
    const a2 = await clockCustomer(api, clockA.id, 'pro');
    const b1 = await clockCustomer(api, clockB.id, 'basic');
    const realCardBefore = await card(api, real);
    const realInvoicesBefore = await invoicesOf(api, real);
    // On real time: its period began just now.
    expect(Math.abs(Date.parse(realCardBefore.currentPeriod.start) - Date.now())).toBeLessThan(5 * 60_000);

    const advanced = await advance(api, clockA.id, at(60));
    expect([...advanced.customers].sort()).toEqual([a1, a2].sort());

    expect(await card(api, real)).toEqual(realCardBefore);
    expect(await invoicesOf(api, real)).toEqual(realInvoicesBefore);
    // Another clock's customers do not move either.
    expect((await card(api, b1)).currentPeriod).toEqual({ start: at(0), end: at(30) });
    expect((await card(api, a2)).currentPeriod).toEqual({ start: at(60), end: at(90) });

    // The attribute is set on the running run (after two renewals' continue-as-new) and only there.
    expect(await testClockOf(api, real)).toBeUndefined();
    expect(await testClockOf(api, a1)).toBe(clockA.id);
    expect(await testClockOf(api, a2)).toBe(clockA.id);
    expect(await testClockOf(api, b1)).toBe(clockB.id);
    await eventually(async () => {
      expect(await running(api, `TestClock = "${clockA.id}"`)).toEqual([subscriptionWorkflowId(a1), subscriptionWorkflowId(a2)].sort());
      expect(await running(api, `TestClock = "${clockB.id}"`)).toEqual([subscriptionWorkflowId(b1)]);
      return true;
    });
    expect(await running(api, `CustomerId = "${real}" AND TestClock IS NOT NULL`)).toEqual([]);
  });

  it('refuses an advance to an earlier or equal time, past 3 years, or of an unknown clock, and a customer on an unknown clock; nothing changes', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    await advance(api, clock.id, at(5));
    const cardBefore = await card(api, id);
    const invoicesBefore = await invoicesOf(api, id);

    // Not later: equal, earlier, before the clock's start. More than 3 years later: 3½ years.
    for (const to of [at(5), at(4), at(-1), new Date(Date.UTC(2030, 6, 1)).toISOString()]) {
      const res = await api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: to } });
      expect({ to, status: res.status, code: res.body?.error?.code }).toEqual({ to, status: 422, code: 'invalid_advance' });
    }

    const unknown = unknownClockId(clock.id);
    const advanceUnknown = await api.request('POST', `/v1/test-clocks/${unknown}/advance`, { body: { frozenTime: at(10) } });
    expect(advanceUnknown.status).toBe(404);
    expect(advanceUnknown.body.error.code).toBe('test_clock_not_found');
    const getUnknown = await getClock(api, unknown);
    expect(getUnknown.status).toBe(404);
    expect(getUnknown.body.error.code).toBe('test_clock_not_found');

    const orphan = `tc-${randomUUID().slice(0, 8)}`;
    const created = await api.request('POST', '/v1/customers', { body: { id: orphan, name: nameOf(orphan), email: `${orphan}@clock.test`, plan: 'basic', testClock: unknown } });
    expect([404, 422]).toContain(created.status);
    expect(created.body.error.code).toBe('test_clock_not_found');
    expect((await api.request('GET', `/v1/customers/${orphan}`)).status).toBe(404);

    // Clocks live between 2000 and 2100 (JSON, Stripe and Temporal's Datetime all take those years).
    for (const frozenTime of ['1969-12-31T00:00:00Z', '2100-01-02T00:00:00Z', '+010000-01-01T00:00:00Z']) {
      const res = await api.request('POST', '/v1/test-clocks', { body: { frozenTime } });
      expect({ frozenTime, status: res.status, code: res.body?.error?.code }).toEqual({ frozenTime, status: 400, code: 'validation_failed' });
    }

    const after = await getClock(api, clock.id);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ id: clock.id, status: 'ready', customers: [id] });
    expect(Date.parse(after.body.frozenTime)).toBe(Date.parse(at(5)));
    expect(await card(api, id)).toEqual(cardBefore);
    expect(await invoicesOf(api, id)).toEqual(invoicesBefore);
  });

  it('while an advance runs, a second advance and its customers\' usage are refused with 409 test_clock_advancing', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    // Two years: 24 renewals, long enough to be seen under way.
    const target = at(730);
    const first = api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: target } });
    await eventually(async () => {
      const polled = await getClock(api, clock.id);
      return polled.body.status === 'advancing' || undefined;
    }, 20_000, 50);

    const [second, usage] = await Promise.all([
      api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: at(800) } }),
      api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'during', 1) }),
    ]);
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('test_clock_advancing');
    expect(usage.status).toBe(409);
    expect(usage.body.error.code).toBe('test_clock_advancing');

    // Nobody asks (no GET): the API's own finisher marks the clock ready once every customer caught up.
    const answered = await first;
    expect([200, 202]).toContain(answered.status);
    await eventually(async () => (await api.database.db.testClock.findUniqueOrThrow({ where: { id: clock.id } })).status === 'ready' || undefined, 120_000, 250);
    await settledAdvance(api, clock.id, target, answered);
    // Day 730 is 10 days into the 25th period (T0+720d … T0+750d); the refused second advance left no trace.
    expect((await card(api, id)).currentPeriod).toEqual({ start: at(720), end: at(750) });
    const invoices = await invoicesOf(api, id);
    expect(invoices).toHaveLength(25);
    expect(outline(invoices).at(-1)).toEqual(['renewal', at(720), at(750), at(720), '10.00']);
    // Once caught up, usage is taken again; the refused event was not counted.
    const after = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'after', 1) });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ used: 1 });
  }, 120_000);

  it('judges a clock customer at its clock, even one in the past: usage timestamps, the usage check and the change preview', async () => {
    // A clock years behind real time: judged at real time, this period would be long over.
    const start = Date.parse('2020-03-01T00:00:00.000Z');
    const on = (days: number) => new Date(start + days * 86_400_000).toISOString();
    const clock = await createClock(api, on(0));
    const id = await clockCustomer(api, clock.id, 'pro');
    await advance(api, clock.id, on(10));

    // Without a timestamp, at the clock's instant; with one, anywhere on its time line up to it.
    const now = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'clock-now', 100) });
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({ used: 100, cycleEnd: on(30) });
    const earlier = await api.request('POST', '/v1/usage/events', { body: { ...usageEvent(id, 'clock-day-5', 50), timestamp: on(5) } });
    expect(earlier.status).toBe(200);
    expect(earlier.body).toMatchObject({ used: 150, cycleEnd: on(30) });
    const ahead = await api.request('POST', '/v1/usage/events', { body: { ...usageEvent(id, 'clock-day-11', 1), timestamp: on(11) } });
    expect({ status: ahead.status, code: ahead.body.error?.code }).toEqual({ status: 422, code: 'invalid_timestamp' });

    // The check counts this cycle's usage (at real time the cycle would be over and count none).
    const check = await api.request('GET', `/v1/usage/check?customerId=${id}&metric=api_calls&quantity=1`);
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({ allowed: true, used: 150, limit: 300_000 });

    // 10 of 30 days in: Pro → Enterprise charges the difference for the 20 days left, $70 × 20/30.
    const preview = await api.request('GET', `/v1/customers/${id}/subscription/change-preview?plan=enterprise`);
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate', charged: { amount: '46.67', currency: 'USD' } });
  });

  it('bursts: twelve customers joining one clock at once get ten places; five advances at once, one runs; all end caught up together', async () => {
    const clock = await createClock(api);
    const ids = Array.from({ length: 12 }, () => `tc-${randomUUID().slice(0, 8)}`);
    const joins = await Promise.all(ids.map((id) => api.request('POST', '/v1/customers', { body: { id, name: nameOf(id), email: `${id}@clock.test`, plan: 'basic', testClock: clock.id } })));
    const joined = ids.filter((_, i) => joins[i]!.status === 201);
    expect(joined).toHaveLength(10);
    for (const refused of joins.filter((j) => j.status !== 201)) expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 409, code: 'test_clock_full' });
    for (const [i, id] of ids.entries()) if (joins[i]!.status !== 201) expect((await api.request('GET', `/v1/customers/${id}`)).status).toBe(404);

    const advances = await Promise.all([31, 32, 33, 34, 35].map((day) => api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: at(day) } })));
    const ran = advances.filter((a) => a.status === 200 || a.status === 202);
    expect(ran).toHaveLength(1);
    for (const other of advances.filter((a) => a.status !== 200 && a.status !== 202)) expect({ status: other.status, code: other.body.error.code }).toEqual({ status: 409, code: 'test_clock_advancing' });
    const target = ran[0]!.body.frozenTime as string;
    await settledAdvance(api, clock.id, target, ran[0]!);
    // Every customer renewed once, at day 30, and stands in its second period.
    for (const id of joined) {
      expect((await card(api, id)).currentPeriod).toEqual({ start: at(30), end: at(60) });
      expect((await invoicesOf(api, id)).map((i) => i.reason)).toEqual(['subscription_create', 'renewal']);
    }
  }, 120_000);

  it('a worker stopped in the middle of an advance: the next one carries on, and every renewal is invoiced once', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    const target = at(365);
    const first = api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: target } });
    // Some renewals in, the worker goes away; the advance waits, then the next worker takes over.
    await eventually(async () => (await invoicesOf(api, id)).length >= 4 || undefined, 60_000, 100);
    await api.stopWorker();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await api.startWorker();
    await settledAdvance(api, clock.id, target, await first);
    const invoices = await invoicesOf(api, id);
    // The first period's invoice and twelve renewals (days 30 … 360), each period once, back to back.
    expect(invoices.map((i) => [i.reason, i.period.start])).toEqual([
      ['subscription_create', at(0)],
      ...Array.from({ length: 12 }, (_, n) => ['renewal', at(30 * (n + 1))]),
    ]);
    expect((await card(api, id)).currentPeriod).toEqual({ start: at(360), end: at(390) });
  }, 180_000);

  it('deleting a clock ends its customers: their workflows are terminated and changes answer subscription_not_running', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'basic');
    await advance(api, clock.id, at(31)); // one renewal: the subscription is in its second run

    const deleted = await api.request('DELETE', `/v1/test-clocks/${clock.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: clock.id, deleted: true });
    expect(deleted.body.customersEnded).toEqual([id]);

    const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(id));
    await eventually(async () => (await handle.describe()).status.name === 'TERMINATED');
    const refused = await change(api, id, { plan: 'pro' });
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe('subscription_not_running');
    // Its usage is refused as the change is; a deleted clock takes no new customer and no advance;
    // deleting it again answers the same.
    const usage = await api.request('POST', '/v1/usage/events', { body: usageEvent(id, 'after-delete', 1) });
    expect({ status: usage.status, code: usage.body.error?.code }).toEqual({ status: 404, code: 'subscription_not_running' });
    const late = `tc-${randomUUID().slice(0, 8)}`;
    const joined = await api.request('POST', '/v1/customers', { body: { id: late, name: nameOf(late), email: `${late}@clock.test`, plan: 'basic', testClock: clock.id } });
    expect({ status: joined.status, code: joined.body.error?.code }).toEqual({ status: 404, code: 'test_clock_not_found' });
    expect((await api.request('POST', `/v1/test-clocks/${clock.id}/advance`, { body: { frozenTime: at(40) } })).status).toBe(404);
    expect((await getClock(api, clock.id)).status).toBe(404);
    const again = await api.request('DELETE', `/v1/test-clocks/${clock.id}`);
    expect(again.status).toBe(200);
    expect(again.body.customersEnded).toEqual([id]);
  });
});

describe('test clocks on a catalog whose downgrades wait for the period end', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApiHarness({ catalog: { ...loadCatalog(), changeRules: [{ when: { tier: 'down' as const }, apply: 'period_end' as const }] } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('a downgrade asked for 10 days in keeps Pro until the renewal, which moves to Basic and prices it', async () => {
    const clock = await createClock(api);
    const id = await clockCustomer(api, clock.id, 'pro');
    await advance(api, clock.id, at(10));

    const res = await change(api, id, { plan: 'basic' });
    expect(res.status).toBe(200);
    expect(res.body.change).toMatchObject({ kind: 'downgrade', effective: 'period_end', credited: { amount: '0.00' } });
    expect(await card(api, id)).toMatchObject({
      plan: { id: 'pro' },
      currentPeriod: { start: at(0), end: at(30) },
      scheduledChange: { plan: 'basic', seats: null, interval: null, at: at(30) },
      downgradesThisCycle: 1,
    });

    await advance(api, clock.id, at(31));
    expect(await card(api, id)).toMatchObject({
      plan: { id: 'basic' },
      currentPeriod: { start: at(30), end: at(60) },
      scheduledChange: null,
      downgradesThisCycle: 0,
    });
    const invoices = await invoicesOf(api, id);
    expect(outline(invoices)).toEqual([
      ['subscription_create', at(0), at(30), at(0), '30.00'],
      ['renewal', at(30), at(60), at(30), '10.00'],
    ]);
    expect(invoices[1]!.lines.map((l) => [l.kind, l.description, l.amount.amount])).toEqual([['plan', 'Basic plan (monthly)', '10.00']]);
  });
});

describe('test clocks turned off (TOLLGATE_TEST_CLOCKS unset)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApiHarness({ testClocks: false });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('every test clock route, and a customer put on a clock, answer 404 test_clocks_disabled; nothing is made', async () => {
    const clockId = `clock_${'0'.repeat(32)}`;
    const answers = [
      await api.request('GET', '/v1/test-clocks'),
      await api.request('POST', '/v1/test-clocks', { body: { frozenTime: at(0) } }),
      await getClock(api, clockId),
      await api.request('POST', `/v1/test-clocks/${clockId}/advance`, { body: { frozenTime: at(1) } }),
      await api.request('DELETE', `/v1/test-clocks/${clockId}`),
      await api.request('POST', '/v1/customers', { body: { id: 'off-clock', name: 'Off', email: 'off@clock.test', plan: 'basic', testClock: clockId } }),
    ];
    expect(answers.map((a) => [a.status, a.body.error?.code])).toEqual(Array.from({ length: 6 }, () => [404, 'test_clocks_disabled']));
    expect(await api.database.db.testClock.count()).toBe(0);
    expect(await api.database.db.customer.count({ where: { id: 'off-clock' } })).toBe(0);
  });
});
