/** The API process: `npm run api`. Settings come from the environment (config/settings.ts). */
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { createPaymentProvider } from '../activities/payments/createPaymentProvider.js';
import { loadCatalog } from '../config/loadCatalog.js';
import { alertWebhookPolicy, loadApiSettings, webhookEndpointPolicy } from '../config/settings.js';
import { registerSearchAttributes } from '../config/registerSearchAttributes.js';
import { temporalConnectionOptions } from '../config/temporalConnection.js';
import { createDb } from '../store/db.js';
import { createServer } from './createServer.js';
import { returnUrlsOf } from './payments/returnUrls.js';
import { LiveCatalog } from './catalog/liveCatalog.js';
import { reloadCatalog } from './catalog/catalogReload.js';
import { catalogFitProblems } from '../billing/catalogFit.js';
import { termsInUse } from '../store/catalogStore.js';

async function main() {
  const settings = loadApiSettings();
  const logger = pino({ level: settings.LOG_LEVEL, base: { service: 'tollgate-api' } });
  const catalog = loadCatalog(settings.TOLLGATE_CATALOG);
  // Its pool logs lost connections and replaces them: a PostgreSQL restart costs 503s, not the process.
  const db = createDb(settings.DATABASE_URL, { logger });
  const connection = await Connection.connect(temporalConnectionOptions(settings));
  const temporal = new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE });
  // New subscriptions start with every search attribute set: registered here too, so the API may
  // be deployed before the worker that would otherwise register them.
  const added = await registerSearchAttributes(connection, settings.TEMPORAL_NAMESPACE);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  const catalogs = new LiveCatalog(db, catalog);
  // What the worker does per subscription at its renewal, said once here for all of them: a
  // subscription on a plan this catalog no longer prices keeps its own copy (its workflow's).
  const unfit = catalogFitProblems(catalog, await termsInUse(db).catch(() => []));
  if (unfit.length > 0) logger.warn({ problems: unfit }, 'the catalog does not price everything subscriptions use; those keep their own copy until it does');
  // SIGHUP reloads the catalog file, as the worker does; one that no longer prices a plan in use is refused.
  process.on('SIGHUP', () => {
    reloadCatalog({ live: catalogs, db, load: () => loadCatalog(settings.TOLLGATE_CATALOG), logger })
      .catch((error: unknown) => logger.error({ err: error }, 'catalog reload failed; keeping the current one'));
  });
  const { server, close } = createServer({
    db,
    databaseUrl: settings.DATABASE_URL,
    temporal,
    taskQueue: settings.TEMPORAL_TASK_QUEUE,
    catalog,
    catalogs,
    operatorKey: settings.TOLLGATE_OPERATOR_KEY,
    logger,
    recorder: { maxConcurrentFlushes: settings.USAGE_FLUSH_CONCURRENCY, maxBatchEvents: settings.USAGE_FLUSH_MAX_EVENTS },
    usageView: { maxCustomers: settings.USAGE_VIEW_MAX_CUSTOMERS, maxAgeMs: settings.USAGE_VIEW_MAX_AGE_MS },
    alertWebhooks: alertWebhookPolicy(settings),
    webhookEndpoints: webhookEndpointPolicy(settings),
    stripeWebhookSecret: settings.PAYMENT_PROVIDER === 'stripe' ? settings.STRIPE_WEBHOOK_SECRET : undefined,
    payments: createPaymentProvider(settings),
    returnUrls: returnUrlsOf(settings),
    corsOrigins: settings.TOLLGATE_CORS_ORIGINS,
    testClocks: settings.TOLLGATE_TEST_CLOCKS,
    rateLimits: { keyPerSecond: settings.RATE_LIMIT_KEY_PER_SECOND, sessionPerSecond: settings.RATE_LIMIT_SESSION_PER_SECOND, usagePerSecond: settings.RATE_LIMIT_USAGE_PER_SECOND, lookupsPerSecond: settings.RATE_LIMIT_LOOKUPS_PER_SECOND },
  });
  await new Promise<void>((resolve) => server.listen(settings.PORT, settings.HOST, resolve));
  logger.info({ url: `http://${settings.HOST}:${settings.PORT}` }, 'Tollgate API listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    const closing = close();
    server.closeIdleConnections();
    await closing;
    await Promise.allSettled([connection.close(), db.$disconnect()]);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`tollgate-api: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
