/**
 * The API against real parts: a fresh database on the run's PostgreSQL, the run's Temporal dev
 * server, an in-process worker on a task queue of its own, and the Express app on a free port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { inject } from 'vitest';
import type { Catalog } from '../../billing/catalog.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import { createApp } from '../../api/createApp.js';
import { createWorker } from '../../worker/createWorker.js';
import { registerSearchAttributes } from '../../worker/registerSearchAttributes.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export const OPERATOR_KEY = 'test-operator-key-0123456789';

export interface ApiHarness {
  baseUrl: string;
  database: TestDatabase;
  temporal: Client;
  taskQueue: string;
  catalog: Catalog;
  request(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string>; auth?: string | null }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startApiHarness(options: { withWorker?: boolean } = {}): Promise<ApiHarness> {
  const address = inject('temporalAddress');
  const catalog = loadCatalog();
  const taskQueue = `api-${randomUUID()}`;
  const database = await createTestDatabase();
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection, namespace: 'default' });
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;
  if (options.withWorker !== false) {
    nativeConnection = await NativeConnection.connect({ address });
    await registerSearchAttributes(nativeConnection, 'default');
    worker = await createWorker({ connection: nativeConnection, namespace: 'default', taskQueue, db: database.db, payments: new NoPaymentProvider(), catalog: () => catalog });
    running = worker.run();
  }
  const logger = pino({ level: 'silent' });
  const app = createApp({ db: database.db, temporal, taskQueue, catalog, operatorKey: OPERATOR_KEY, logger });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    database,
    temporal,
    taskQueue,
    catalog,
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
      await new Promise<void>((resolve) => server.close(() => resolve()));
      worker?.shutdown();
      await running;
      await nativeConnection?.close();
      await connection.close();
      await database.close();
    },
  };
}
