/**
 * Builds the Temporal worker: the subscription workflow bundle plus the activities wired to the
 * database and the payment provider. Shared by the worker process and the tests.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Catalog } from '../billing/catalog.js';
import type { Db } from '../store/db.js';
import type { PaymentProvider } from '../activities/payments/paymentProvider.js';
import { createAlertActivities } from '../activities/alertActivities.js';
import { createPaymentActivities } from '../activities/paymentActivities.js';
import { createPaymentNoticeActivities } from '../activities/paymentNoticeActivities.js';
import { createCreditActivities } from '../activities/creditActivities.js';
import { createCreditNoticeActivities } from '../activities/creditNoticeActivities.js';
import { createSubscriptionActivities } from '../activities/subscriptionActivities.js';
import { createWebhookPoster, type Senders, type WebhookPoster } from '../notifications/senders.js';
import { createWebhookActivities } from '../activities/webhookActivities.js';
import { TASK_QUEUE_DEFAULT } from '../workflows/messages.js';
import { WORKFLOW_BUNDLER_OPTIONS } from './workflowBundle.js';

export const WORKFLOWS_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  db: Db;
  payments: PaymentProvider;
  senders: Senders;
  /** Posts hosts' webhooks; absent, one under the default address rules (https, public addresses). */
  webhookPoster?: WebhookPoster;
  catalog: () => Catalog;
  /** Extra options (tests pass a prebuilt bundle to save bundling time). */
  options?: Partial<WorkerOptions>;
}

/** Every activity the subscription workflow calls (tests replace single ones to hold or slow them). */
export function workerActivities(deps: Pick<WorkerDeps, 'db' | 'payments' | 'senders' | 'catalog' | 'webhookPoster'>) {
  return {
    ...createSubscriptionActivities({ db: deps.db, payments: deps.payments, catalog: deps.catalog }),
    ...createAlertActivities({ db: deps.db, senders: deps.senders, catalog: deps.catalog }),
    ...createPaymentActivities({ db: deps.db, payments: deps.payments, catalog: deps.catalog }),
    ...createPaymentNoticeActivities({ db: deps.db, senders: deps.senders, catalog: deps.catalog }),
    ...createCreditActivities({ db: deps.db, payments: deps.payments, catalog: deps.catalog }),
    ...createCreditNoticeActivities({ db: deps.db, senders: deps.senders }),
    ...createWebhookActivities({ db: deps.db, poster: deps.webhookPoster ?? createWebhookPoster({}) }),
  };
}

export async function createWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? TASK_QUEUE_DEFAULT,
    workflowsPath: WORKFLOWS_PATH,
    activities: workerActivities(deps),
    // On shutdown, in-flight activities get this long to finish; after that they are cancelled
    // and Temporal retries them elsewhere (they are idempotent).
    shutdownGraceTime: '10 seconds',
    bundlerOptions: WORKFLOW_BUNDLER_OPTIONS,
    ...deps.options,
  });
}
