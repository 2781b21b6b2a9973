/**
 * The subscription workflow over months of cycles, on the Java time-skipping test server, with
 * the real activities writing to a real PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { insertCustomer } from '../../store/customerStore.js';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { cancelUpdate, changePlanUpdate, reactivateUpdate } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { serverNow, startTimeSkipping, stateOf, testServerWorker } from '../harness/timeSkipping.js';

const catalog = loadCatalog();
let env: TestWorkflowEnvironment;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `wf-${randomUUID()}`;

beforeAll(async () => {
  [env, database] = await Promise.all([startTimeSkipping(), createTestDatabase()]);
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  worker = await testServerWorker({ env, database, taskQueue, payments: new NoPaymentProvider(), catalog });
  running = worker.run();
});

// Each test's subscriptions end with the test: the test server's clock is shared, and workflows
// left running would renew (activities, continue-as-new) during every later test's time skips.
const started: string[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((id) => env.client.workflow.getHandle(id).terminate('test finished').catch(() => undefined)));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await database?.close();
});

async function subscribe(planId: string, interval: 'monthly' | 'yearly' = 'monthly') {
  const customerId = `c-${randomUUID().slice(0, 8)}`;
  const now = Date.now(); // the test server's clock starts at the real time and is read from env below
  const input = newSubscriptionInput({ catalog, customerId, planId, interval, seats: 1, now: await serverNow(env, now) });
  await insertCustomer(database.db, { id: customerId, name: 'Acme', email: 'billing@acme.test' }, input);
  const handle = await startSubscriptionWorkflow(env.client, taskQueue, input);
  started.push(handle.workflowId);
  return { customerId, handle, input };
}

/**
 * Waits for a test-server call, bounded in real time: a call that does not return (a time skip
 * once hung in CI, not reproduced since) fails with what the workflows were doing instead of
 * hanging the test until its timeout.
 */
async function bounded<T>(what: string, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const report = Promise.race([pendingWork(), new Promise<string>((r) => setTimeout(() => r('(describe did not answer)'), 5_000))]);
      void report.then((work) => reject(new Error(`${what} did not return within 20 s; pending: ${work}`)));
    }, 20_000);
  });
  try {
    return await Promise.race([call, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

const skip = (duration: string) => bounded(`env.sleep('${duration}')`, env.sleep(duration));

/** Pending activities and workflow tasks of this file's running workflows, for failure messages. */
async function pendingWork(): Promise<string> {
  const lines: string[] = [];
  const rows = await database.db.subscription.findMany({ select: { workflowId: true } });
  for (const { workflowId } of rows) {
    const { raw } = await env.client.workflow.getHandle(workflowId).describe().catch(() => ({ raw: undefined }));
    const activities = raw?.pendingActivities?.map((a) => `${a.activityType?.name}#${a.attempt} ${a.lastFailure?.message ?? ''}`) ?? [];
    if (activities.length > 0 || raw?.pendingWorkflowTask) lines.push(`${workflowId}: ${activities.join(', ')}${raw?.pendingWorkflowTask ? ' +workflow task' : ''}`);
  }
  return lines.join('; ') || 'nothing';
}

function invoicesOf(customerId: string) {
  return database.db.invoice.findMany({ where: { customerId }, orderBy: { periodStart: 'asc' }, include: { lines: true } });
}

describe('subscription workflow', () => {
  it('renews every 30 days: three renewals, three renewal invoices with the right amounts and periods', async () => {
    const { customerId, handle, input } = await subscribe('pro');
    await eventually(async () => (await invoicesOf(customerId)).length === 1);
    for (let cycle = 1; cycle <= 3; cycle++) {
      await skip('30 days');
      await eventually(async () => (await invoicesOf(customerId)).length === 1 + cycle);
    }
    const invoices = await invoicesOf(customerId);
    expect(invoices.map((i) => i.reason)).toEqual(['subscription_create', 'renewal', 'renewal', 'renewal']);
    invoices.forEach((invoice, n) => {
      expect(invoice.periodStart.getTime()).toBe(input.periodStart + n * 30 * DAY_MS);
      expect(invoice.periodEnd.getTime()).toBe(input.periodStart + (n + 1) * 30 * DAY_MS);
      expect(invoice.totalMinor).toBe(3000n);
      expect(invoice.currency).toBe('USD');
      expect(invoice.status).toBe('open');
      expect(invoice.number).toMatch(/^INV-\d{6}$/);
      expect(invoice.lines).toHaveLength(1);
      expect(invoice.lines[0]).toMatchObject({ kind: 'plan', unitPrice: '30.00', amountMinor: 3000n, quantity: 1n });
    });
    const state = await eventually(async () => {
      const s = await stateOf(handle);
      if (s.cycleNumber !== 3) throw new Error(`cycle ${s.cycleNumber}`);
      return s;
    });
    expect(state.periodStart).toBe(input.periodStart + 90 * DAY_MS);
    const row = await database.db.subscription.findUniqueOrThrow({ where: { customerId } });
    expect(row.periodStart.getTime()).toBe(input.periodStart + 90 * DAY_MS);
    expect(row.version).toBe(state.version);
  });

  it('continues as new once per cycle, so each run holds one cycle', async () => {
    const { customerId, handle } = await subscribe('basic');
    const firstRun = (await handle.describe()).runId;
    await skip('30 days');
    await eventually(async () => (await invoicesOf(customerId)).length === 2);
    const secondRun = await eventually(async () => {
      const d = await handle.describe();
      return d.runId !== firstRun ? d.runId : undefined;
    });
    const history = await env.client.workflow.getHandle(handle.workflowId, firstRun).fetchHistory();
    const last = history.events?.at(-1);
    expect(last?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    expect(last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId).toBe(secondRun);
    // The first run also creates the provider's customer and issues the first invoice; a later run holds only its cycle.
    expect(history.events?.length ?? 0).toBeLessThan(40);
    await skip('30 days');
    const thirdRun = await eventually(async () => {
      const d = await handle.describe();
      return d.runId !== secondRun ? d.runId : undefined;
    });
    expect(thirdRun).toBeTruthy();
    const steady = await env.client.workflow.getHandle(handle.workflowId, secondRun).fetchHistory();
    expect(steady.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId).toBe(thirdRun);
    expect(steady.events?.length ?? 0).toBeLessThan(30);
  });

  it('yearly: charges the yearly price once a year while cycles stay 30 days', async () => {
    const { customerId, handle, input } = await subscribe('pro', 'yearly');
    await eventually(async () => (await invoicesOf(customerId)).length === 1);
    const first = (await invoicesOf(customerId))[0]!;
    expect(first.totalMinor).toBe(28800n); // 12 × $30 − 20%
    expect(first.periodEnd.getTime() - first.periodStart.getTime()).toBe(360 * DAY_MS);
    await skip('30 days');
    await eventually(async () => (await stateOf(handle)).cycleNumber === 1);
    const state = await stateOf(handle);
    expect(state.cycleStart).toBe(input.periodStart + 30 * DAY_MS);
    expect(state.periodEnd).toBe(input.periodStart + 360 * DAY_MS);
    expect(await invoicesOf(customerId)).toHaveLength(1);
  });

  it('cancel keeps the plan until the period end, then the subscription becomes Free', async () => {
    const { customerId, handle } = await subscribe('pro');
    const cancelled = await handle.executeUpdate(cancelUpdate);
    expect(cancelled).toMatchObject({ planId: 'pro', status: 'cancel_scheduled', cancelAtPeriodEnd: true });
    const row = await database.db.subscription.findUniqueOrThrow({ where: { customerId } });
    expect(row).toMatchObject({ planId: 'pro', status: 'cancel_scheduled', cancelAtPeriodEnd: true });

    await skip('30 days');
    const after = await eventually(async () => {
      const s = await stateOf(handle);
      if (s.cycleNumber !== 1) throw new Error(`cycle ${s.cycleNumber}`);
      return s;
    });
    expect(after).toMatchObject({ planId: 'free', status: 'active', cancelAtPeriodEnd: false });
    await eventually(async () => (await database.db.subscription.findUniqueOrThrow({ where: { customerId } })).planId === 'free');
    // The Free period costs nothing: no invoice beyond the first one.
    expect((await invoicesOf(customerId)).map((i) => i.reason)).toEqual(['subscription_create']);
  });

  it('reactivate within the period keeps the plan', async () => {
    const { customerId, handle } = await subscribe('basic');
    await handle.executeUpdate(cancelUpdate);
    await skip('10 days');
    const reactivated = await handle.executeUpdate(reactivateUpdate);
    expect(reactivated).toMatchObject({ planId: 'basic', status: 'active', cancelAtPeriodEnd: false });
    await skip('20 days');
    await eventually(async () => (await invoicesOf(customerId)).length === 2);
    const state = await stateOf(handle);
    expect(state).toMatchObject({ planId: 'basic', status: 'active', cycleNumber: 1 });
    expect((await invoicesOf(customerId))[1]!.totalMinor).toBe(1000n);
  });

  it('a refused update answers with its reason and leaves no trace in history', async () => {
    const { handle } = await subscribe('pro');
    await eventually(async () => (await handle.fetchHistory()).events?.some((e) => e.activityTaskCompletedEventAttributes) ?? false);
    const refused = await handle.executeUpdate(reactivateUpdate).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (refused as WorkflowUpdateFailedError).cause as { type?: string; message?: string };
    expect(cause.type).toBe('no_cancellation_scheduled');
    // The Java test server runs validators in ordinary workflow tasks, so those may show; an update
    // itself must not (the dev-server API test checks the event count does not move at all).
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes)).toBe(false);
    expect(await stateOf(handle)).toMatchObject({ status: 'active', version: 1 });

    await handle.executeUpdate(cancelUpdate);
    const twice = await handle.executeUpdate(cancelUpdate).catch((error: unknown) => error);
    expect(((twice as WorkflowUpdateFailedError).cause as { type?: string }).type).toBe('cancellation_already_scheduled');
  });

  it('a downgrade credit is taken off the next renewal invoices until it is used up', async () => {
    const { customerId, handle, input } = await subscribe('pro');
    await skip('10 days');
    const state = await stateOf(handle);
    const result = await bounded('changePlan update', handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'basic', usage: {}, usageCycleStart: state.cycleStart }] }));
    expect(result).toMatchObject({ kind: 'downgrade', effective: 'immediate', invoiceNumber: null });
    const credit = -BigInt(result.netMinor); // $20 × ~20/30 of the period
    expect(credit).toBeGreaterThan(1300n);
    expect(credit).toBeLessThanOrEqual(1334n);
    await skip('20 days');
    await eventually(async () => (await invoicesOf(customerId)).length === 2);
    await skip('30 days');
    await eventually(async () => (await invoicesOf(customerId)).length === 3);
    const [, first, second] = await invoicesOf(customerId);
    expect(first!.periodStart.getTime()).toBe(input.periodStart + 30 * DAY_MS);
    expect(first!.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', 1000n], ['credit', -1000n]]);
    expect(first!.totalMinor).toBe(0n);
    expect(second!.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', 1000n], ['credit', -(credit - 1000n)]]);
    expect(second!.totalMinor).toBe(1000n - (credit - 1000n));
    expect((await stateOf(handle)).creditOwedMinor).toBe('0');
  });

  it('cancelling a Free subscription is refused: there is nothing to cancel', async () => {
    const { handle, customerId } = await subscribe('free');
    const refused = await handle.executeUpdate(cancelUpdate).catch((error: unknown) => error);
    expect(((refused as WorkflowUpdateFailedError).cause as { type?: string }).type).toBe('nothing_to_cancel');
    expect(await invoicesOf(customerId)).toHaveLength(0);
  });
});
