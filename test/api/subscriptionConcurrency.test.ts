/**
 * Model-based concurrency test against the real API, worker, PostgreSQL and Temporal dev server:
 * fast-check generates a subscription and a burst of concurrent requests on it (plan and interval
 * changes, cancel, reactivate, usage that crosses alert thresholds, repeats with the same
 * Idempotency-Key), optionally racing the renewal at the cycle end. Afterwards the answers, the
 * database and the workflow's own history must agree:
 *
 * - no answer is a 5xx;
 * - every accepted Update in history answered exactly one request, with the same result;
 * - every accepted change that charged has exactly one invoice, for exactly the amount it
 *   answered, and no plan-change invoice exists that no answer reported;
 * - every invoice the workflow drafted (first period, renewal) is stored exactly as drafted, and no
 *   other invoice exists;
 * - once idle, the read model equals the workflow's state.
 *
 * TOLLGATE_MODEL_RUNS sets the number of cases (default 8).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { snapshotOfRow } from '../../store/subscriptionStore.js';
import { getStateQuery, subscriptionWorkflowId, type ChangePlanResult, type SubscriptionSnapshot } from '../../workflows/messages.js';
import type { InvoiceDraft } from '../../billing/invoiceDraft.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { subscriptionHistory, type SubscriptionHistory } from '../harness/subscriptionHistory.js';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

type Request =
  | { kind: 'change'; body: { plan: string } | { interval: 'monthly' | 'yearly' } }
  | { kind: 'cancel' }
  | { kind: 'reactivate' }
  | { kind: 'usage'; quantity: number };

interface Case {
  plan: 'free' | 'basic' | 'pro' | 'enterprise';
  yearly: boolean;
  /** The current cycle ends this long after the customer is created (the renewal races the burst), or never during the case. */
  renewalInMs: number | undefined;
  /** All requests at the same instant, rather than spread over their delays. */
  burst: boolean;
  /** `concurrent`: the same key sent twice at once; `lostAnswer`: sent again after the API lost the first answer. */
  requests: Array<{ request: Request; delayMs: number; repeat: 'none' | 'concurrent' | 'lostAnswer' }>;
}

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('free', 'basic', 'pro', 'enterprise').map((plan): Request => ({ kind: 'change', body: { plan } })) },
  { weight: 1, arbitrary: fc.constantFrom('monthly' as const, 'yearly' as const).map((interval): Request => ({ kind: 'change', body: { interval } })) },
  { weight: 2, arbitrary: fc.constant<Request>({ kind: 'cancel' }) },
  { weight: 2, arbitrary: fc.constant<Request>({ kind: 'reactivate' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 450 }).map((quantity): Request => ({ kind: 'usage', quantity })) },
  // Enough to pass Enterprise's 1,000,000 included calls: the renewal then bills overage, against credit owed.
  { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 1_050_000 }).map((quantity): Request => ({ kind: 'usage', quantity })) },
);

const caseArb: fc.Arbitrary<Case> = fc.record({
  plan: fc.constantFrom('free', 'basic', 'pro', 'enterprise'),
  yearly: fc.boolean(),
  renewalInMs: fc.option(fc.integer({ min: 500, max: 2_000 }), { nil: undefined }),
  burst: fc.boolean(),
  requests: fc.array(fc.record({ request: requestArb, delayMs: fc.integer({ min: 0, max: 1_500 }), repeat: fc.constantFrom('none' as const, 'concurrent' as const, 'lostAnswer' as const) }), { minLength: 3, maxLength: 20 }),
});

interface Answer {
  request: Request;
  status: number;
  body: any;
  replayed: boolean;
  /** Sent again with the key of an answer the API lost: must equal that answer, changing nothing. */
  retryOf?: Answer;
}

/** As if the API process died after the workflow answered but before it stored the answer. */
const forgetAnswer = (key: string) => api.database.db.$executeRaw`
  UPDATE idempotency_records SET status = NULL, response = NULL, completed_at = NULL, claimed_at = now() - interval '2 minutes' WHERE key = ${key} AND status IS NOT NULL`;

async function send(customerId: string, request: Request, idempotencyKey?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: 'Bearer test-operator-key-0123456789', 'content-type': 'application/json' };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const [path, body] = request.kind === 'usage'
    ? ['/v1/usage/events', { customerId, metric: 'api_calls', quantity: request.quantity, idempotencyKey: randomUUID() }]
    : [`/v1/customers/${customerId}/subscription/${request.kind}`, request.kind === 'change' ? request.body : undefined];
  const response = await fetch(`${api.baseUrl}${path}`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { request, status: response.status, body: text ? JSON.parse(text) : undefined, replayed: response.headers.get('idempotent-replayed') === 'true' };
}

const minor = (money: { amount: string } | undefined) => (money ? BigInt(money.amount.replace('.', '')) : 0n);

async function runCase(c: Case): Promise<void> {
  const customerId = `mc-${randomUUID().slice(0, 12)}`;
  const plan = c.plan === 'free' ? { plan: 'free' } : { plan: c.plan, interval: c.yearly ? 'yearly' : 'monthly' };
  const periodStart = c.renewalInMs === undefined ? {} : { periodStart: new Date(Date.now() - 30 * DAY_MS + c.renewalInMs).toISOString() };
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Race Co', email: 'race@example.test', ...plan, ...periodStart } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const firstCycleStart = Date.parse(created.body.subscription.currentCycle.start);

  // The burst: every request after its delay, some sent twice with one Idempotency-Key.
  const answers = (await Promise.all(c.requests.map(async ({ request, delayMs, repeat }) => {
    await new Promise((resolve) => setTimeout(resolve, c.burst ? 0 : delayMs));
    if (repeat === 'none' || request.kind === 'usage') return [await send(customerId, request)];
    const key = randomUUID();
    if (repeat === 'concurrent') return Promise.all([send(customerId, request, key), new Promise<Answer>((resolve) => setTimeout(() => resolve(send(customerId, request, key)), 20))]);
    const first = await send(customerId, request, key);
    if (first.status !== 200 || (await forgetAnswer(key)) !== 1) return [first];
    return [first, { ...(await send(customerId, request, key)), retryOf: first }];
  }))).flat();
  // A retry after a lost answer is answered as the first time (by the workflow, not the API's record).
  for (const retry of answers.filter((a) => a.retryOf)) {
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    expect(retry.replayed).toBe(false);
    expect(retry.request.kind === 'change' ? retry.body.change : retry.body.status).toEqual(retry.retryOf!.request.kind === 'change' ? retry.retryOf!.body.change : retry.retryOf!.body.status);
  }

  const failures = answers.filter((a) => a.status >= 500);
  expect(failures.map((a) => `${a.request.kind} → ${a.status} ${JSON.stringify(a.body)}`)).toEqual([]);
  for (const answer of answers) {
    const allowed = answer.request.kind === 'usage' ? [200, 409, 429] : [200, 409, 422];
    expect(allowed, `${answer.request.kind} → ${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status);
  }

  // Settle: the renewal (if it was due) has happened, and the read model has caught up.
  const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(customerId));
  let state: SubscriptionSnapshot | undefined;
  await eventually(async () => {
    state = await handle.query(getStateQuery);
    if (c.renewalInMs !== undefined && state.cycleStart === firstCycleStart) return false;
    const { raw } = await handle.describe();
    if (raw.pendingWorkflowTask || (raw.pendingActivities?.length ?? 0) > 0) return false;
    const row = await api.database.db.subscription.findUniqueOrThrow({ where: { customerId } });
    const { cycleNumber: _cycles, ...expected } = state;
    expect(snapshotOfRow(row)).toEqual(expected);
    return true;
  }, 20_000, 100);

  const history = await subscriptionHistory(api.temporal, customerId);
  checkUpdatesAgainstAnswers(history, answers);
  await checkInvoices(customerId, history, answers, state!);
}

/** Every accepted Update answered one request (first answers only: replays repeat one), with the same result. */
function checkUpdatesAgainstAnswers(history: SubscriptionHistory, answers: Answer[]): void {
  expect(history.updates.filter((u) => u.failure !== undefined)).toEqual([]);
  const accepted = answers.filter((a) => a.request.kind !== 'usage' && a.status === 200 && !a.replayed && !a.retryOf);
  const describeAnswer = (a: Answer) => a.request.kind === 'change'
    ? `change:${a.body.change.kind}:${minor(a.body.change.charged)}:${minor(a.body.change.credited)}:${a.body.change.invoiceNumber}`
    : `${a.request.kind}:${a.body.status}`;
  const describeUpdate = (u: SubscriptionHistory['updates'][number]) => {
    if (u.name === 'changePlan.v1') {
      const r = u.result as ChangePlanResult;
      const net = BigInt(r.netMinor);
      return `change:${r.kind}:${BigInt(r.chargedMinor ?? '0')}:${net < 0n ? -net : 0n}:${r.invoiceNumber}`;
    }
    return `${u.name.replace('.v1', '')}:${(u.result as SubscriptionSnapshot).status}`;
  };
  // A retry that reached a later run is answered there from the workflow's memory: the same
  // Update id twice in history, with the same result. Each id is one change.
  const byId = new Map<string, string>();
  for (const update of history.updates) {
    const seen = byId.get(update.updateId);
    if (seen !== undefined) expect(describeUpdate(update), `Update ${update.updateId} answered twice differently`).toBe(seen);
    else byId.set(update.updateId, describeUpdate(update));
  }
  expect([...byId.values()].sort()).toEqual(accepted.map(describeAnswer).sort());
  // A repeat with the same key answered what the first did.
  for (const replay of answers.filter((a) => a.replayed && a.status === 200)) {
    expect(accepted.map(describeAnswer)).toContain(describeAnswer(replay));
  }
}

async function checkInvoices(customerId: string, history: SubscriptionHistory, answers: Answer[], state: SubscriptionSnapshot): Promise<void> {
  const invoices = await api.database.db.invoice.findMany({ where: { customerId }, include: { lines: true } });
  const changeAnswers = answers.filter((a) => a.request.kind === 'change' && a.status === 200 && !a.replayed && !a.retryOf);
  // Charged changes: one invoice each, with the amount answered (an invoice that credit owed
  // paid in full charges 0.00 and still shows the change).
  for (const answer of changeAnswers) {
    const charged = minor(answer.body.change.charged);
    if (answer.body.change.invoiceNumber === null) {
      expect(charged).toBe(0n);
      continue;
    }
    const invoice = invoices.find((i) => i.number === answer.body.change.invoiceNumber);
    expect(invoice, `invoice ${answer.body.change.invoiceNumber} of an accepted change`).toBeDefined();
    expect(invoice!.reason).toBe('plan_change');
    expect(invoice!.totalMinor).toBe(charged);
    expect(invoice!.lines.reduce((sum, line) => sum + line.amountMinor, 0n)).toBe(charged);
  }
  // No plan-change invoice that no answer reported.
  const reported = changeAnswers.map((a) => a.body.change.invoiceNumber).filter((n): n is string => n !== null);
  expect(new Set(reported).size).toBe(reported.length);
  expect(invoices.filter((i) => i.reason === 'plan_change').map((i) => i.number).sort()).toEqual([...reported].sort());
  // Everything else was drafted by the workflow (first period, renewals) and stored as drafted,
  // plus the closed cycle's overage (priced by the renewal activity) less credit owed it used; or
  // is an overage invoice of its own, recorded in the overage history.
  const drafts = history.activities.flatMap((activity): InvoiceDraft[] => {
    if (activity.type === 'issueInvoice') return [activity.input[0] as InvoiceDraft];
    if (activity.type === 'recordRenewal') {
      const fee = (activity.input[0] as { feeInvoice?: InvoiceDraft }).feeInvoice;
      return fee ? [fee] : [];
    }
    return [];
  });
  const others = invoices.filter((i) => i.reason !== 'plan_change' && i.reason !== 'overage');
  expect(others.map((i) => i.idempotencyKey).sort()).toEqual(drafts.map((d) => d.idempotencyKey).sort());
  const overageInvoiceIds = new Set((await api.database.db.overageCharge.findMany({ where: { customerId } })).map((o) => o.invoiceId));
  for (const invoice of invoices.filter((i) => i.reason === 'overage')) expect(overageInvoiceIds).toContain(invoice.id);
  for (const draft of drafts) {
    const stored = others.find((i) => i.idempotencyKey === draft.idempotencyKey)!;
    const lines = [...stored.lines].sort((a, b) => a.position - b.position);
    expect(lines.slice(0, draft.lines.length).map((l) => [l.kind, l.amountMinor.toString()]), draft.idempotencyKey).toEqual(draft.lines.map((l) => [l.kind, l.amountMinor]));
    expect(lines.slice(draft.lines.length).every((l) => l.kind === 'overage' || l.kind === 'credit')).toBe(true);
  }
  for (const invoice of invoices) expect(invoice.lines.reduce((sum, line) => sum + line.amountMinor, 0n), invoice.number).toBe(invoice.totalMinor);

  // Credit is conserved: every credit a change gave is either on an invoice or still owed.
  const given = history.updates
    .filter((u) => u.name === 'changePlan.v1')
    .reduce((sum, u) => { const net = BigInt((u.result as ChangePlanResult).netMinor); return net < 0n ? sum - net : sum; }, 0n);
  const spent = invoices.flatMap((i) => i.lines).filter((l) => l.kind === 'credit').reduce((sum, l) => sum - l.amountMinor, 0n);
  expect(spent + BigInt(state.creditOwedMinor), `credit given ${given}, spent ${spent}, owed ${state.creditOwedMinor}`).toBe(given);
}

it('concurrent changes, cancels, reactivations, usage and a racing renewal leave answers, invoices, history and read model in agreement', async () => {
  const numRuns = Number(process.env.TOLLGATE_MODEL_RUNS ?? 8);
  await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns, endOnFailure: true });
}, 600_000);
