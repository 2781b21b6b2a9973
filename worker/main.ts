/**
 * The worker process: `npm run worker`. Registers the search attributes, then polls the
 * subscription task queue. On SIGINT/SIGTERM the SDK stops polling and gives in-flight
 * activities the shutdown grace time to finish; whatever does not finish is retried by Temporal
 * on another worker (every activity is idempotent).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import { createPaymentProvider } from '../activities/payments/createPaymentProvider.js';
import { loadCatalog } from '../config/loadCatalog.js';
import { alertWebhookPolicy, loadWorkerSettings, webhookEndpointPolicy } from '../config/settings.js';
import { temporalConnectionOptions } from '../config/temporalConnection.js';
import { createDb } from '../store/db.js';
import { Client } from '@temporalio/client';
import { createSenders, createWebhookPoster } from '../notifications/senders.js';
import { startAlertRelay } from './alertRelay.js';
import { createWorker } from './createWorker.js';
import { registerSearchAttributes } from '../config/registerSearchAttributes.js';
import { temporalLogger } from './temporalLogger.js';
import { workerTuning } from './workerTuning.js';

async function main() {
  const settings = loadWorkerSettings();
  const logger = pino({ level: settings.LOG_LEVEL, base: { service: 'tollgate-worker' } });
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'], logger: temporalLogger(logger) });
  let catalog = loadCatalog(settings.TOLLGATE_CATALOG);
  // SIGHUP reloads the catalog file: renewals then hand the new catalog to running subscriptions.
  process.on('SIGHUP', () => {
    try {
      catalog = loadCatalog(settings.TOLLGATE_CATALOG);
      logger.info('catalog reloaded');
    } catch (error) {
      logger.error({ err: error }, 'catalog reload failed; keeping the previous one');
    }
  });
  const db = createDb(settings.DATABASE_URL, { logger, maxConnections: settings.WORKER_DB_CONNECTIONS });
  const connection = await NativeConnection.connect(temporalConnectionOptions(settings));
  const added = await registerSearchAttributes(connection, settings.TEMPORAL_NAMESPACE);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  if (!settings.SMTP_URL) logger.warn('SMTP_URL is not set: email alerts will be recorded as skipped');
  const webhooks = alertWebhookPolicy(settings);
  if (webhooks.allowHttp || webhooks.allowPrivateNetworks) logger.warn({ webhooks }, 'alert webhooks may use plain http or reach private networks');
  const senders = createSenders({
    smtpUrl: settings.SMTP_URL,
    emailFrom: settings.ALERT_EMAIL_FROM,
    telegramApiBaseUrl: settings.TELEGRAM_API_BASE_URL,
    webhooks,
  });
  const endpointPolicy = webhookEndpointPolicy(settings);
  if (endpointPolicy.allowHttp || endpointPolicy.allowPrivateNetworks) logger.warn({ webhookEndpoints: endpointPolicy }, 'webhook endpoints may use plain http or reach private networks');
  const webhookPoster = createWebhookPoster({ webhooks: endpointPolicy });
  const payments = createPaymentProvider(settings);
  if (payments.name === 'none') logger.info('PAYMENT_PROVIDER=none: invoices are issued and left open for collection by other means');
  else logger.info({ provider: payments.name, apiBase: settings.STRIPE_API_BASE, tax: settings.STRIPE_TAX }, 'collecting invoices through the payment provider');
  const worker = await createWorker({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.TEMPORAL_TASK_QUEUE,
    db,
    payments,
    senders,
    // Hosts' webhook endpoints have address rules of their own (WEBHOOK_ENDPOINTS_ALLOW_*).
    webhookPoster,
    catalog: () => catalog,
    options: workerTuning(settings),
  });
  const relay = startAlertRelay({ db, temporal: new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE }), logger, taskQueue: settings.TEMPORAL_TASK_QUEUE });
  logger.info({ taskQueue: settings.TEMPORAL_TASK_QUEUE, namespace: settings.TEMPORAL_NAMESPACE }, 'Tollgate worker running');
  await worker.run();
  await relay.stop();
  webhookPoster.close();
  await Promise.allSettled([senders.close(), connection.close(), db.$disconnect()]);
  logger.info('worker stopped');
}

main().catch((error: unknown) => {
  process.stderr.write(`tollgate-worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
