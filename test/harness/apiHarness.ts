/**
 * The API against real parts: a fresh database on the run's PostgreSQL, the run's Temporal dev
 * server, an in-process worker on a task queue of its own, and the Express app on a free port.
 */
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { inject } from 'vitest';
import type { Catalog } from '../../billing/catalog.js';
import { reloadCatalog, type CatalogReload } from '../../api/catalog/catalogReload.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import { createServer } from '../../api/createServer.js';
import type { RateLimitSettings } from '../../api/access/rateLimits.js';
import type { UsageView } from '../../api/usage/usageView.js';
import { createWorker } from '../../worker/createWorker.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { startAlertRelay } from '../../worker/alertRelay.js';
import { createSenders, createWebhookPoster, type SenderOptions } from '../../notifications/senders.js';
import type { WebhookPolicy } from '../../notifications/destinationGuard.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const OPERATOR_KEY = 'test-operator-key-0123456789';

export interface ApiHarness {
  baseUrl: string;
  database: TestDatabase;
  temporal: Client;
  taskQueue: string;
  catalog: Catalog;
  /** The API's in-process view for usage checks (its stats tell how checks were answered). */
  usageView: UsageView;
  request(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string>; auth?: string | null }): Promise<{ status: number; body: any }>;
  /** Starts the worker and the alert relay (started by default unless `withWorker: false`). */
  startWorker(): Promise<void>;
  /** Stops them, as a crashed worker process would leave things: nothing relays or runs. */
  stopWorker(): Promise<void>;
  /**
   * A catalog file edited and both processes sent SIGHUP: the worker takes it (its renewals hand it
   * to the subscriptions it fits), the API takes it unless it no longer prices what is in use.
   */
  reloadCatalog(next: Catalog): Promise<CatalogReload>;
  close(): Promise<void>;
}

/** Keeps expected activity failures (a test's failing receiver) out of the test output. */
function quietTemporalLogs(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this process
  }
}

/** The test receivers are plain http on 127.0.0.1: allowed unless a test asks for the production default. */
const LOOPBACK_WEBHOOKS: WebhookPolicy = { allowHttp: true, allowPrivateNetworks: true };

export interface ApiHarnessOptions {
  withWorker?: boolean;
  senders?: SenderOptions;
  catalog?: Catalog;
  alertWebhooks?: WebhookPolicy;
  /** The payment provider of the worker (default: none) and of the API (default: absent, so none). */
  payments?: PaymentProvider;
  /** Enables POST /v1/stripe/webhooks with this signing secret. */
  stripeWebhookSecret?: string;
  /** Browser origins CORS answers. */
  corsOrigins?: string[];
  /** Requests a second per caller; absent, limits no test reaches (test/api/rateLimits.test.ts sets its own). */
  rateLimits?: RateLimitSettings;
  /** TOLLGATE_TEST_CLOCKS (default on in tests: the test clock routes are in the access matrix). */
  testClocks?: boolean;
}

/** Far above any test's pace: the table-driven tests send hundreds of requests a second with one key. */
export const UNREACHED_RATE_LIMITS: RateLimitSettings = { keyPerSecond: 1_000_000, sessionPerSecond: 1_000_000, usagePerSecond: 1_000_000, lookupsPerSecond: 1_000_000 };

export async function startApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  quietTemporalLogs();
  const address = inject('temporalAddress');
  const catalog = options.catalog ?? loadCatalog();
  let workerCatalog = catalog;
  const taskQueue = `api-${randomUUID()}`;
  const database = await createTestDatabase();
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection, namespace: 'default' });
  const logger = pino({ level: 'silent' });
  const nativeConnection = await NativeConnection.connect({ address });
  await registerSearchAttributes(nativeConnection, 'default');
  const alertWebhooks = options.alertWebhooks ?? LOOPBACK_WEBHOOKS;
  const senders = createSenders({ webhooks: alertWebhooks, ...options.senders });
  const webhookPoster = createWebhookPoster({ webhooks: alertWebhooks });
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let relay: { stop(): Promise<void> } | undefined;
  const startWorker = async () => {
    worker = await createWorker({ connection: nativeConnection, namespace: 'default', taskQueue, db: database.db, payments: options.payments ?? new NoPaymentProvider(), senders, webhookPoster, catalog: () => workerCatalog });
    running = worker.run();
    relay = startAlertRelay({ db: database.db, temporal, logger, intervalMs: 50, taskQueue });
  };
  const stopWorker = async () => {
    await relay?.stop();
    worker?.shutdown();
    await running;
    worker = undefined;
    relay = undefined;
  };
  if (options.withWorker !== false) await startWorker();
  const { server, close: closeServer, usageView, ready, catalogs } = createServer({ db: database.db, databaseUrl: database.url, temporal, taskQueue, catalog, operatorKey: OPERATOR_KEY, logger, alertWebhooks, webhookEndpoints: alertWebhooks, stripeWebhookSecret: options.stripeWebhookSecret, payments: options.payments, corsOrigins: options.corsOrigins, rateLimits: options.rateLimits ?? UNREACHED_RATE_LIMITS, testClocks: options.testClocks ?? true });
  await ready;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    database,
    temporal,
    taskQueue,
    catalog,
    usageView,
    startWorker,
    stopWorker,
    async reloadCatalog(next) {
      workerCatalog = next;
      return reloadCatalog({ live: catalogs, db: database.db, load: () => next, logger });
    },
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.auth !== null) headers.authorization = `Bearer ${opts.auth ?? OPERATOR_KEY}`;
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await closeServer();
      await stopWorker();
      await senders.close();
      webhookPoster.close();
      await nativeConnection.close();
      await connection.close();
      await database.close();
    },
  };
}
