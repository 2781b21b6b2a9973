/** The Java time-skipping test server, so months of cycles run in seconds. */
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLER_OPTIONS } from '../../worker/workflowBundle.js';
import { inject } from 'vitest';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import type { Catalog } from '../../billing/catalog.js';
import { createSenders } from '../../notifications/senders.js';
import { createWorker, WORKFLOWS_PATH } from '../../worker/createWorker.js';
import { getStateQuery, type SubscriptionSnapshot } from '../../workflows/messages.js';
import type { subscriptionWorkflow } from '../../workflows/subscriptionWorkflow.js';
import type { TestDatabase } from './database.js';
import { eventually } from './eventually.js';

export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const path = inject('testServerPath');
  return TestWorkflowEnvironment.createTimeSkipping(path ? { server: { executable: { type: 'existing-path', path } } } : {});
}

/** A worker on the test server with the real activities over `database` (the caller runs and shuts it down). */
export async function testServerWorker(args: { env: TestWorkflowEnvironment; database: TestDatabase; taskQueue: string; payments: PaymentProvider; catalog: Catalog }): Promise<Worker> {
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined, ...WORKFLOW_BUNDLER_OPTIONS });
  return createWorker({
    connection: args.env.nativeConnection,
    namespace: args.env.namespace ?? 'default',
    taskQueue: args.taskQueue,
    db: args.database.db,
    payments: args.payments,
    senders: createSenders({}),
    catalog: () => args.catalog,
    options: { workflowBundle: bundle, workflowsPath: undefined },
  });
}

/** The test server's current time (it moves ahead of the wall clock as tests skip time). */
export async function serverNow(env: TestWorkflowEnvironment, fallback = Date.now()): Promise<number> {
  const skipping = env as unknown as { currentTimeMs?: () => Promise<number> };
  return skipping.currentTimeMs ? Number(await skipping.currentTimeMs()) : fallback;
}

/**
 * The workflow's state by query, asked again when no answer comes: the Java test server can drop
 * a query that arrives as the run continues-as-new (seen in CI; the real server answers it).
 * Queries are read-only, so asking twice is harmless.
 */
export async function stateOf(handle: WorkflowHandle<typeof subscriptionWorkflow>): Promise<SubscriptionSnapshot> {
  for (let attempt = 1; ; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 3_000); });
    const state = await Promise.race([handle.query(getStateQuery), timeout]).finally(() => clearTimeout(timer));
    if (state) return state;
    if (attempt === 5) throw new Error(`no answer to the getState query of ${handle.workflowId} after ${attempt} tries`);
  }
}

/**
 * Skips test-server time, bounded in real time: a skip that does not return within 30 s fails,
 * naming the activities the `workflowIds` still have pending (the Java test server stops skipping
 * while an activity runs).
 */
export async function skipBounded(env: TestWorkflowEnvironment, workflowIds: readonly string[], duration: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void Promise.all(workflowIds.map(async (id) => {
        const { raw } = await env.client.workflow.getHandle(id).describe();
        return `${id}: ${(raw.pendingActivities ?? []).map((a) => `${a.activityType?.name}#${a.attempt}`).join(', ') || 'no activity'}`;
      })).then((lines) => reject(new Error(`env.sleep('${duration}') did not return within 30 s; ${lines.join('; ')}`)), reject);
    }, 30_000);
  });
  try {
    await Promise.race([env.sleep(duration), stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Terminates a test's subscriptions once their activities are done: the Java test server stops
 * skipping time while an activity runs, and an activity of a run terminated mid-flight can keep it
 * stopped. Idle twice in a row, a moment apart: a workflow task under way may still schedule one.
 */
export async function terminateWhenIdle(env: TestWorkflowEnvironment, workflowIds: string[]): Promise<void> {
  const idle = async (id: string) => {
    const { raw } = await env.client.workflow.getHandle(id).describe();
    return !raw.pendingWorkflowTask && (raw.pendingActivities?.length ?? 0) === 0;
  };
  await Promise.all(workflowIds.map((id) => eventually(async () => {
    if (!(await idle(id))) return false;
    await new Promise((resolve) => setTimeout(resolve, 300));
    return idle(id);
  }, 20_000).catch(() => undefined)));
  await Promise.all(workflowIds.splice(0).map((id) => env.client.workflow.getHandle(id).terminate('test finished').catch(() => undefined)));
}
