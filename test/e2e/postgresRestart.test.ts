/**
 * PostgreSQL going away under a running API and worker, and coming back:
 *  (a) one pooled connection killed (pg_terminate_backend): nothing notices but a log line;
 *  (b) the server stopped while requests are in flight: every answer is a 503
 *      `database_unavailable` (never a 500, never a hang), /health says `unavailable`, and a
 *      renewal that falls due meanwhile fails in the worker and is retried;
 *  (c) the server started again on the same data: requests succeed, /health is `ok`, the usage
 *      counted before is still there, the renewal completes once, the alert relay goes on.
 * Nothing may escape as an uncaught exception or unhandled rejection (both are recorded here).
 *
 * This file runs a PostgreSQL of its own (the run's shared one is used by other files at the same
 * time) and the API and worker in-process, with the run's Temporal dev server.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import { createServer } from '../../api/createServer.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { createSenders, type Senders } from '../../notifications/senders.js';
import { migrate } from '../../prisma/migrate.js';
import { freePort } from '../../scripts/services/freePort.js';
import { startPostgres, type RunningPostgres } from '../../scripts/services/postgres.js';
import { createDb, type Db } from '../../store/db.js';
import { startAlertRelay } from '../../worker/alertRelay.js';
import { createWorker } from '../../worker/createWorker.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { eventually } from '../harness/eventually.js';
import { UNREACHED_RATE_LIMITS } from '../harness/apiHarness.js';

const OPERATOR_KEY = 'restart-operator-key-0123456789';
const DATABASE = 'tollgate';
const catalog = loadCatalog();
const taskQueue = `pg-restart-${randomUUID()}`;
const suffix = randomUUID().slice(0, 8);
/** Takes the usage load; Pro's 300,000 calls are never reached here. */
const steady = `steady-${suffix}`;
/** Its period ends while PostgreSQL is down. */
const renewing = `renewing-${suffix}`;
/** Free (1,000 calls): crosses 80% after the restart, for the alert relay. */
const small = `small-${suffix}`;

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}
const logs: LogLine[] = [];
const logger = pino({ level: 'warn' }, { write: (line: string) => { logs.push(JSON.parse(line) as LogLine); } });

/** Whatever escapes: with no listener these would end the process (or fail the run). */
const escaped: unknown[] = [];
const onEscape = (error: unknown) => { escaped.push(error); };

let root: string;
let dataDir: string;
let pgPort: number;
let postgres: RunningPostgres | undefined;
let db: Db;
let connection: Connection;
let nativeConnection: NativeConnection;
let temporal: Client;
let senders: Senders;
let worker: Worker;
let workerRun: Promise<void>;
let workerFailure: unknown;
let relay: { stop(): Promise<void> };
let closeServer: () => Promise<void>;
let baseUrl: string;

/** Event keys answered `counted`, and those whose request failed (recorded or not: the retry tells). */
const confirmed = new Set<string>();
const unconfirmed = new Set<string>();

interface Answer {
  status: number;
  /** Parsed JSON; shapes differ per route, so fields are read where they are known. */
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  ms: number;
}

/** One API call. A request that takes longer than 15 s counts as hung (status 0). */
async function call(method: string, route: string, body?: unknown): Promise<Answer> {
  const started = Date.now();
  try {
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Answer['body']) : {}, ms: Date.now() - started };
  } catch (error) {
    return { status: 0, body: { error: { code: 'no_answer', message: String(error) } }, ms: Date.now() - started };
  }
}

async function adminQuery<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres!.url('postgres') });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

let eventCounter = 0;
const newKey = () => `ev-${suffix}-${++eventCounter}`;

/** Sends one usage event (or a batch of three) for `steady`; files each key under confirmed/unconfirmed. */
async function sendUsage(batch: boolean): Promise<Answer> {
  const keys = batch ? [newKey(), newKey(), newKey()] : [newKey()];
  const events = keys.map((idempotencyKey) => ({ customerId: steady, metric: 'api_calls', quantity: 1, idempotencyKey }));
  const answer = batch ? await call('POST', '/v1/usage/events/batch', { events }) : await call('POST', '/v1/usage/events', events[0]);
  const counted = answer.status === 200 && (batch ? answer.body.counted === keys.length : answer.body.status === 'counted');
  for (const key of keys) (counted ? confirmed : unconfirmed).add(key);
  return answer;
}

const ROUTES = ['event', 'batch', 'check', 'card', 'invoices', 'alert-channels'] as const;
type Route = (typeof ROUTES)[number];

function request(route: Route): Promise<Answer> {
  switch (route) {
    case 'event': return sendUsage(false);
    case 'batch': return sendUsage(true);
    case 'check': return call('GET', `/v1/usage/check?customerId=${steady}&metric=api_calls&quantity=1`);
    case 'card': return call('GET', `/v1/customers/${steady}/subscription`);
    case 'invoices': return call('GET', `/v1/customers/${steady}/invoices`);
    case 'alert-channels': return call('PUT', `/v1/customers/${steady}/alert-channels`, { email: { to: ['ops@steady.test'] } });
  }
}

async function usedBySteady(): Promise<number> {
  const answer = await call('GET', `/v1/usage/check?customerId=${steady}&metric=api_calls&quantity=1`);
  expect(answer.status).toBe(200);
  return answer.body.used as number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  try {
    // Activity failures while the database is down are expected: keep them out of the output.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this process
  }
  root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-pg-restart-'));
  chmodSync(root, 0o755); // PostgreSQL runs as user `postgres` when we are root
  dataDir = path.join(root, 'pg', 'data');
  pgPort = await freePort();
  // Persistent: stop() must keep the data for the restart (this file removes `root` itself).
  postgres = await startPostgres({ dataDir, port: pgPort, persistent: true });
  await postgres.createDatabase(DATABASE);
  const databaseUrl = postgres.url(DATABASE);
  await migrate(databaseUrl);
  db = createDb(databaseUrl, { maxConnections: 5, logger });

  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  temporal = new Client({ connection, namespace: 'default' });
  nativeConnection = await NativeConnection.connect({ address });
  await registerSearchAttributes(nativeConnection, 'default');
  senders = createSenders({ webhooks: { allowHttp: true, allowPrivateNetworks: true } });
  worker = await createWorker({ connection: nativeConnection, namespace: 'default', taskQueue, db, payments: new NoPaymentProvider(), senders, catalog: () => catalog });
  workerRun = worker.run().catch((error: unknown) => { workerFailure = error; });
  relay = startAlertRelay({ db, temporal, logger, intervalMs: 50, maxBackoffMs: 400 });

  // Its bursts (thousands of requests a second with one key) are far past the default budget.
  const api = createServer({ db, databaseUrl, temporal, taskQueue, catalog, operatorKey: OPERATOR_KEY, logger, rateLimits: UNREACHED_RATE_LIMITS });
  await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  closeServer = api.close;

  for (const [id, plan] of [[steady, 'pro'], [small, 'free']] as const) {
    const created = await call('POST', '/v1/customers', { id, name: id, email: `billing@${id}.test`, plan });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await closeServer?.().catch(() => undefined);
  await relay?.stop();
  worker?.shutdown();
  await workerRun;
  await senders?.close();
  await nativeConnection?.close();
  await connection?.close();
  await db?.$disconnect();
  await postgres?.stop().catch(() => undefined);
  if (root) rmSync(root, { recursive: true, force: true });
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
}, 60_000);

describe('PostgreSQL restarting under the API and the worker', () => {
  it('(a) a killed pooled connection is replaced: the API stays up and answers', async () => {
    // Open connections in both pools (the lean usage routes' and Prisma's).
    for (let i = 0; i < 4; i++) {
      const answers = await Promise.all(ROUTES.map(request));
      for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    }
    const lost = () => logs.filter((l) => l.msg === 'database connection lost; the pool replaces it');
    for (const application of ['tollgate-usage', 'tollgate-prisma']) {
      const before = lost().length;
      // An idle one: the alert relay keeps one of Prisma's busy now and then.
      await eventually(async () => {
        const killed = await adminQuery<{ killed: boolean }>(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
           WHERE datname = $1 AND application_name = $2 AND state = 'idle' LIMIT 1`,
          [DATABASE, application],
        );
        return killed[0]?.killed === true;
      }, 10_000, 20);
      // The pool hears of it (and drops that client) as soon as the server's notice arrives.
      await eventually(() => lost().length > before, 10_000, 20);
      for (let i = 0; i < 3; i++) {
        const answers = await Promise.all(ROUTES.map(request));
        for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      }
    }
    expect(lost().map((l) => l.pool).sort()).toEqual(['prisma', 'usage']);
    expect((await call('GET', '/health')).body).toMatchObject({ status: 'ok', database: 'ok' });
    expect(escaped).toEqual([]);
  }, 60_000);

  it('(b) while PostgreSQL is down every request is a 503 database_unavailable, never a 500 or a hang', async () => {
    // A Pro subscription imported so that its period ends a few seconds from now: its renewal
    // will fall due while the database is down.
    const periodStart = new Date(Date.now() - 30 * DAY_MS + 6_000).toISOString();
    const created = await call('POST', '/v1/customers', { id: renewing, name: 'Renewing', email: 'billing@renewing.test', plan: 'pro', periodStart });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    type Phase = 'up' | 'stopping' | 'down';
    let phase: Phase = 'up';
    let sending = true;
    const answers: Array<{ phase: Phase; route: Route; answer: Answer }> = [];
    const loadClient = async (n: number) => {
      for (let i = n; sending; i++) {
        const route = ROUTES[i % ROUTES.length]!;
        const at = phase;
        answers.push({ phase: at, route, answer: await request(route) });
      }
    };
    const clients = Array.from({ length: 6 }, (_, n) => loadClient(n));
    await sleep(300);

    phase = 'stopping';
    await postgres!.stop();
    phase = 'down';

    // The worker meets the outage too: the period's timer fires, and the renewal's write (a local
    // activity in that workflow task) fails and is retried by the worker, which keeps the task
    // alive meanwhile (a second workflow task completes after the timer, and no next run starts).
    const handle = temporal.workflow.getHandle(subscriptionWorkflowId(renewing));
    await eventually(async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const fired = events.findIndex((e) => e.timerFiredEventAttributes);
      const tasksAfter = fired < 0 ? 0 : events.slice(fired).filter((e) => e.workflowTaskCompletedEventAttributes).length;
      const continued = events.some((e) => e.workflowExecutionContinuedAsNewEventAttributes);
      return tasksAfter >= 2 && !continued ? true : undefined;
    }, 30_000, 200);

    const started = Date.now();
    const health = await call('GET', '/health');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'degraded', database: 'unavailable', temporal: 'ok' });

    sending = false;
    await Promise.all(clients);

    const notAnswered = answers.filter(({ answer }) => answer.status === 0);
    expect(notAnswered, 'hung or dropped requests').toEqual([]);
    const wrong = answers.filter(({ phase: at, answer }) =>
      !(answer.status === 503 && answer.body.error?.code === 'database_unavailable') && !(at !== 'down' && answer.status === 200));
    expect(wrong.map(({ phase: at, route, answer }) => ({ at, route, status: answer.status, body: answer.body })), 'answers other than 200 before the outage or 503 database_unavailable').toEqual([]);
    const duringOutage = answers.filter(({ phase: at }) => at === 'down');
    // Every route was tried during the outage, and refused without waiting (a stopped server
    // refuses connections; the bound leaves room for a busy machine).
    expect(new Set(duringOutage.map(({ route }) => route))).toEqual(new Set(ROUTES));
    expect(Math.max(...duringOutage.map(({ answer }) => answer.ms))).toBeLessThan(10_000);
    const refused = duringOutage[0]!.answer;
    expect(refused.body.error!.message).toMatch(/retry/i);
    // The logs name the outage, without a stack trace per request.
    expect(logs.some((l) => l.msg === 'database unavailable; answered 503')).toBe(true);
    expect(logs.some((l) => l.msg === 'alert relay: database unavailable; retrying until it is back')).toBe(true);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(escaped).toEqual([]);
    expect(workerFailure).toBeUndefined();
  }, 120_000);

  it('(c) once PostgreSQL is back on the same data, everything works again and nothing was lost', async () => {
    postgres = await startPostgres({ dataDir, port: pgPort, persistent: true });

    await eventually(async () => {
      const health = await call('GET', '/health');
      return health.status === 200 && health.body.database === 'ok';
    }, 20_000, 100);
    for (let i = 0; i < 3; i++) {
      const answers = await Promise.all(ROUTES.map(request));
      for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    }

    // Every event answered `counted` is still counted; an event whose request failed may or may
    // not have been recorded (the connection can drop after a commit).
    const used = await usedBySteady();
    expect(used).toBeGreaterThanOrEqual(confirmed.size);
    expect(used).toBeLessThanOrEqual(confirmed.size + unconfirmed.size);
    // Sending those again with the same keys settles it, as the 503 says: each counts exactly once.
    const retry = [...unconfirmed];
    for (let i = 0; i < retry.length; i += 1_000) {
      const events = retry.slice(i, i + 1_000).map((idempotencyKey) => ({ customerId: steady, metric: 'api_calls', quantity: 1, idempotencyKey }));
      const answer = await call('POST', '/v1/usage/events/batch', { events });
      expect(answer.status).toBe(200);
      expect((answer.body.counted as number) + (answer.body.duplicates as number)).toBe(events.length);
    }
    expect(await usedBySteady()).toBe(confirmed.size + unconfirmed.size);

    // The renewal that failed during the outage is retried by Temporal and lands exactly once.
    const renewed = await eventually(async () => {
      const row = await db.subscription.findUniqueOrThrow({ where: { customerId: renewing } });
      return row.cycleStart.getTime() > Date.now() - DAY_MS ? row : undefined;
    }, 60_000, 250);
    expect(renewed.planId).toBe('pro');
    const invoices = await db.invoice.findMany({ where: { customerId: renewing } });
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ reason: 'renewal', totalMinor: 3000n });

    // The alert relay kept going: a crossing written now is signalled.
    const crossing = await call('POST', '/v1/usage/events', { customerId: small, metric: 'api_calls', quantity: 800, idempotencyKey: `cross-${suffix}` });
    expect(crossing.status, JSON.stringify(crossing.body)).toBe(200);
    await eventually(async () => {
      const alerts = await db.usageAlert.findMany({ where: { customerId: small } });
      return alerts.length === 1 && alerts[0]!.signaledAt !== null;
    }, 20_000, 100);

    expect(worker.getState()).toBe('RUNNING');
    expect(workerFailure).toBeUndefined();
    expect(escaped).toEqual([]);
  }, 120_000);
});
