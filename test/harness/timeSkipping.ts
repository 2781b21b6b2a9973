/** The Java time-skipping test server, so months of cycles run in seconds. */
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import type { Catalog } from '../../billing/catalog.js';
import { createSenders } from '../../notifications/senders.js';
import { createWorker, WORKFLOWS_PATH } from '../../worker/createWorker.js';
import { getStateQuery, type SubscriptionSnapshot } from '../../workflows/messages.js';
import type { subscriptionWorkflow } from '../../workflows/subscriptionWorkflow.js';
import type { TestDatabase } from './database.js';

export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const path = inject('testServerPath');
  return TestWorkflowEnvironment.createTimeSkipping(path ? { server: { executable: { type: 'existing-path', path } } } : {});
}

/** A worker on the test server with the real activities over `database` (the caller runs and shuts it down). */
export async function testServerWorker(args: { env: TestWorkflowEnvironment; database: TestDatabase; taskQueue: string; payments: PaymentProvider; catalog: Catalog }): Promise<Worker> {
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
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
