/**
 * What must hold for one subscription after any burst of requests against it, whatever their
 * interleaving (test/api/subscriptionConcurrency.test.ts, test/e2e/workerKilledDuringBurst.test.ts):
 *
 * - every accepted Update in history answered exactly one request, with the same result;
 * - every accepted change that charged has exactly one invoice, for exactly the amount it
 *   answered, and no plan-change invoice exists that no answer reported;
 * - every invoice the workflow drafted (first period, renewal) is stored as drafted (plus the
 *   overage the renewal priced, less credit it used), and no other invoice exists;
 * - credit is conserved: what changes gave is on invoices or still owed;
 * - once idle, the read model equals the workflow's state.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { expect } from 'vitest';
import type { InvoiceDraft } from '../../billing/invoiceDraft.js';
import type { Db } from '../../store/db.js';
import { snapshotOfRow } from '../../store/subscriptionStore.js';
import { getStateQuery, subscriptionWorkflowId, type ChangePlanResult, type SubscriptionSnapshot } from '../../workflows/messages.js';
import { OPERATOR_KEY } from './apiHarness.js';
import { eventually } from './eventually.js';
import { isIdle, subscriptionHistory, type SubscriptionHistory } from './subscriptionHistory.js';

export type Request =
  | { kind: 'change'; body: { plan: string } | { interval: 'monthly' | 'yearly' } }
  | { kind: 'cancel' }
  | { kind: 'reactivate' }
  | { kind: 'usage'; quantity: number };


export interface Answer {
  request: Request;
  status: number;
  body: any;
  replayed: boolean;
  /** Sent again with the key of an answer the API lost: must equal that answer, changing nothing. */
  retryOf?: Answer;
}

export async function send(baseUrl: string, customerId: string, request: Request, idempotencyKey?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' };
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  const [path, body] = request.kind === 'usage'
    ? ['/v1/usage/events', { customerId, metric: 'api_calls', quantity: request.quantity, idempotencyKey: randomUUID() }]
    : [`/v1/customers/${customerId}/subscription/${request.kind}`, request.kind === 'change' ? request.body : undefined];
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { request, status: response.status, body: text ? JSON.parse(text) : undefined, replayed: response.headers.get('idempotent-replayed') === 'true' };
}

/** As if the API process died after the workflow answered but before it stored the answer. */
export function forgetAnswer(db: Db, key: string): Promise<number> {
  return db.$executeRaw`
    UPDATE idempotency_records SET status = NULL, response = NULL, completed_at = NULL, claimed_at = now() - interval '2 minutes' WHERE key = ${key} AND status IS NOT NULL`;
}

const minor = (money: { amount: string } | undefined) => (money ? BigInt(money.amount.replace('.', '')) : 0n);

/** Answers a client may get: never a 5xx. */
export function expectNoServerErrors(answers: Answer[]): void {
  expect(answers.filter((a) => a.status >= 500).map((a) => `${a.request.kind} → ${a.status} ${JSON.stringify(a.body)}`)).toEqual([]);
  for (const answer of answers) {
    const allowed = answer.request.kind === 'usage' ? [200, 409, 429] : [200, 409, 422];
    expect(allowed, `${answer.request.kind} → ${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status);
  }
  // A retry after a lost answer is answered as the first time (by the workflow, not the API's record).
  for (const retry of answers.filter((a) => a.retryOf)) {
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    expect(retry.replayed).toBe(false);
    expect(retry.request.kind === 'change' ? retry.body.change : retry.body.status).toEqual(retry.retryOf!.request.kind === 'change' ? retry.retryOf!.body.change : retry.retryOf!.body.status);
  }
}

/**
 * Waits until the subscription is idle (and, with `renewedFrom`, past that cycle) with its read
 * model equal to its state, then checks every invariant above against history and database.
 */
export async function expectSubscriptionConsistent(args: { db: Db; temporal: Client; customerId: string; answers: Answer[]; renewedFrom?: number; timeoutMs?: number }): Promise<void> {
  const { db, customerId } = args;
  const handle = args.temporal.workflow.getHandle(subscriptionWorkflowId(customerId));
  let state: SubscriptionSnapshot | undefined;
  await eventually(async () => {
    state = await handle.query(getStateQuery);
    if (args.renewedFrom !== undefined && state.cycleStart === args.renewedFrom) return false;
    if (!await isIdle(args.temporal, customerId)) return false;
    const row = await db.subscription.findUniqueOrThrow({ where: { customerId } });
    const { cycleNumber: _cycles, ...expected } = state;
    expect(snapshotOfRow(row)).toEqual(expected);
    return true;
  }, args.timeoutMs ?? 20_000, 100);
  const history = await subscriptionHistory(args.temporal, customerId);
  checkUpdatesAgainstAnswers(history, args.answers);
  await checkInvoices(db, customerId, history, args.answers, state!);
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

async function checkInvoices(db: Db, customerId: string, history: SubscriptionHistory, answers: Answer[], state: SubscriptionSnapshot): Promise<void> {
  const invoices = await db.invoice.findMany({ where: { customerId }, include: { lines: true } });
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
    if (activity.type === 'recordRenewal' && !activity.local) {
      const fee = (activity.input[0] as { feeInvoice?: InvoiceDraft }).feeInvoice;
      return fee ? [fee] : [];
    }
    return [];
  });
  // A renewal written by a local activity (LOCAL_RENEWAL_PATCH) has no input in history: its
  // marker names the invoice it returned, which must be a renewal, stored once.
  const localRenewals = history.activities
    .filter((activity) => activity.local && activity.type === 'recordRenewal')
    .map((activity) => (activity.local!.result as { invoice?: { id: string } }).invoice?.id)
    .filter((id): id is string => id !== undefined);
  const others = invoices.filter((i) => i.reason !== 'plan_change' && i.reason !== 'overage' && !localRenewals.includes(i.id));
  expect(others.map((i) => i.idempotencyKey).sort()).toEqual(drafts.map((d) => d.idempotencyKey).sort());
  expect(new Set(localRenewals).size).toBe(localRenewals.length);
  for (const id of localRenewals) {
    const invoice = invoices.find((i) => i.id === id);
    expect(['renewal', 'overage'], `invoice ${id} a local renewal returned`).toContain(invoice?.reason);
    expect(invoice!.lines.every((l) => ['plan', 'seats', 'overage', 'credit'].includes(l.kind)), invoice!.number).toBe(true);
  }
  const overageInvoiceIds = new Set((await db.overageCharge.findMany({ where: { customerId } })).map((o) => o.invoiceId));
  for (const invoice of invoices.filter((i) => i.reason === 'overage')) expect(overageInvoiceIds).toContain(invoice.id);
  for (const draft of drafts) {
    const stored = others.find((i) => i.idempotencyKey === draft.idempotencyKey)!;
    const lines = [...stored.lines].sort((a, b) => a.position - b.position);
    expect(lines.slice(0, draft.lines.length).map((l) => [l.kind, l.amountMinor.toString()]), draft.idempotencyKey).toEqual(draft.lines.map((l) => [l.kind, l.amountMinor]));
    expect(lines.slice(draft.lines.length).every((l) => l.kind === 'overage' || l.kind === 'credit')).toBe(true);
  }
  for (const invoice of invoices) expect(invoice.lines.reduce((sum, line) => sum + line.amountMinor, 0n), invoice.number).toBe(invoice.totalMinor);

  // Credit is conserved: every credit a change gave is either on an invoice or still owed.
  const given = [...new Map(history.updates.map((u) => [u.updateId, u])).values()]
    .filter((u) => u.name === 'changePlan.v1')
    .reduce((sum, u) => { const net = BigInt((u.result as ChangePlanResult).netMinor); return net < 0n ? sum - net : sum; }, 0n);
  const spent = invoices.flatMap((i) => i.lines).filter((l) => l.kind === 'credit').reduce((sum, l) => sum - l.amountMinor, 0n);
  expect(spent + BigInt(state.creditOwedMinor), `credit given ${given}, spent ${spent}, owed ${state.creditOwedMinor}`).toBe(given);
}

