/**
 * Renewal storm: `npm run bench:storm` (BENCH_STORM_CUSTOMERS=10000 by default;
 * BENCH_STORM_SERVER=full|dev, default full: the Temporal server on PostgreSQL, see
 * scripts/services/temporalServer.ts; BENCH_STORM_SHARDS its history shards, default 16;
 * BENCH_STORM_LEAD_SECONDS overrides the wait before the instant; BENCH_STORM_WORKER_NODE_ARGS
 * gives the worker node options, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where its CPU goes).
 *
 * What a team sees when it imports its customers on the 1st of the month: N customers whose
 * periods all end at one instant T. The bench imports them (their workflows start and go to
 * sleep), lets the worker settle, and at T every timer fires at once. It reports:
 * - import rate (customers/s), worker and server memory with N sleeping subscriptions;
 * - renewals per second and the time from T to the last renewal invoice and to the last
 *   continue-as-new (a renewal is done when its next run has started);
 * - peak worker and server memory during the storm;
 * - checks: exactly one renewal invoice per customer, no failed/terminated/timed-out workflow,
 *   and no workflow task timed out in a sample of the renewed runs' histories (a sticky-queue
 *   timeout means a task waited behind the others and was replayed from scratch elsewhere).
 *
 * The worker runs as its own process, exactly as `npm run worker`, with the settings it ships.
 * Exit code 0 when the report was printed and every check held; 1 otherwise.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { loadCatalog } from '../config/loadCatalog.js';
import { cycleMs } from '../billing/period.js';
import { migrate } from '../prisma/migrate.js';
import { freePort, waitForPort } from '../scripts/services/freePort.js';
import { startPostgres, type RunningPostgres } from '../scripts/services/postgres.js';
import { startTemporalDevServer, type RunningTemporal } from '../scripts/services/temporalDevServer.js';
import { SUBSCRIPTION_WORKFLOW_TYPE } from '../workflows/messages.js';
import { WORKER_NODE_ARGS } from '../worker/heapLimit.js';
import { stopChild } from './stopChild.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CUSTOMERS = Number(process.env.BENCH_STORM_CUSTOMERS ?? 10_000);
const SERVER: 'full' | 'dev' = process.env.BENCH_STORM_SERVER === 'dev' ? 'dev' : 'full';
const PLAN = 'basic';
/** The issue's targets: 10,000 renewals within 5 minutes; the worker within 1 GiB at 10,000 live subscriptions. */
const TARGET_RENEWALS_PER_SECOND = 10_000 / 300;
const TARGET_WORKER_MIB = 1_024;
const TARGET_IMPORT_PER_SECOND = 150;
/** Customers per import request (the route takes at most 1,000). */
const IMPORT_CHUNK = 500;
const IMPORT_CONCURRENCY = 2;
const STORM_TIMEOUT_MS = 20 * 60_000;
const HISTORY_SAMPLE = 100;
const OPERATOR_KEY = `storm-${randomBytes(16).toString('hex')}`;

const log = (line: string) => process.stderr.write(`[storm] ${line}\n`);
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
const whole = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Stop = { name: string; run: () => Promise<void> | void };
const stops: Stop[] = [];
async function stopAll(): Promise<void> {
  while (stops.length > 0) {
    const step = stops.pop()!;
    try {
      await step.run();
    } catch (error) {
      log(`stopping ${step.name} failed: ${message(error)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: resident set of a process and its children (the worker's Rust core is in-process; the
// full server is one Go process), sampled once a second.
// ---------------------------------------------------------------------------------------------

function rssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

class MemoryWatch {
  peak = 0;
  last = 0;
  private timer: NodeJS.Timeout;
  constructor(readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 1_000);
    this.timer.unref();
  }
  sample(): number {
    const mib = rssMiB(this.pid) ?? 0;
    this.last = mib;
    this.peak = Math.max(this.peak, mib);
    return mib;
  }
  resetPeak(): void {
    this.peak = this.sample();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

// CPU: seconds of CPU each party used over the storm (utime + stime from /proc), so a reader sees
// who the 2 cores went to. PostgreSQL is every process named `postgres` (one per connection).
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

type CpuSnapshot = Record<'worker' | 'server' | 'postgres' | 'api' | 'total', number>;
function cpuSnapshot(pids: { worker: number; server?: number; api: number }): CpuSnapshot {
  const total = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 4).reduce((a, b) => a + Number(b), 0) / CLOCK_TICKS_PER_SECOND;
  return { worker: cpuSecondsOf(pids.worker), server: pids.server ? cpuSecondsOf(pids.server) : 0, postgres: postgresCpuSeconds(), api: cpuSecondsOf(pids.api), total };
}

/** The Temporal server's own process (the dev server is the CLI process; the full server a Go binary). */
function serverPid(temporal: RunningTemporal): number | undefined {
  return temporal.pid;
}

// ---------------------------------------------------------------------------------------------
// Processes: the worker and the API, spawned as production runs them.
// ---------------------------------------------------------------------------------------------

interface Child {
  pid: number;
  output: string[];
  /** Lines written in all (logging costs the worker CPU in a storm). */
  lines(): number;
  stop(): Promise<void>;
}

async function spawnService(name: string, script: string, env: NodeJS.ProcessEnv, ready: (output: string) => boolean, nodeArgs: string[] = []): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let all = '';
  let lineCount = 0;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (all.length < 200_000) all += text;
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    lineCount += lines.length;
    output.push(...lines);
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const stop = () => stopChild(child, 15_000);
  stops.push({ name, run: stop });
  const started = Date.now();
  while (!ready(all)) {
    if (gone()) throw new Error(`${name} exited at start: ${output.slice(-20).join('\n')}`);
    if (Date.now() - started > 90_000) throw new Error(`${name} did not start within 90 s: ${output.slice(-20).join('\n')}`);
    await sleep(100);
  }
  return { pid: child.pid!, output, lines: () => lineCount, stop };
}

// ---------------------------------------------------------------------------------------------
// Import: through the bulk import route, as a team would.
// ---------------------------------------------------------------------------------------------

function post(port: number, pathName: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: pathName, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${OPERATOR_KEY}` },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(300_000, () => req.destroy(new Error('import request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

interface ImportResult { id: string; status: string; code?: string; message?: string }

async function importCustomers(apiPort: number, ids: string[], periodStart: number): Promise<{ seconds: number; failed: ImportResult[] }> {
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += IMPORT_CHUNK) chunks.push(ids.slice(i, i + IMPORT_CHUNK));
  const failed: ImportResult[] = [];
  const started = Date.now();
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      const answer = await post(apiPort, '/v1/customers/import', {
        customers: chunk.map((id) => ({ id, name: `Storm ${id}`, email: `${id}@storm.example`, plan: PLAN, interval: 'monthly', periodStart: new Date(periodStart).toISOString() })),
      });
      if (answer.status !== 200) throw new Error(`import answered ${answer.status}: ${answer.body.slice(0, 500)}`);
      const { results } = JSON.parse(answer.body) as { results: ImportResult[] };
      failed.push(...results.filter((r) => r.status !== 'created'));
      done += chunk.length;
      if (done % 2_000 < IMPORT_CHUNK) log(`imported ${whole(done)} of ${whole(ids.length)}`);
    }
  };
  await Promise.all(Array.from({ length: IMPORT_CONCURRENCY }, lane));
  return { seconds: (Date.now() - started) / 1000, failed };
}

// ---------------------------------------------------------------------------------------------
// The storm.
// ---------------------------------------------------------------------------------------------

interface Progress { invoices: number; lastInvoiceAt?: number }

async function progress(db: pg.Client, instant: number): Promise<Progress> {
  const { rows } = await db.query<{ n: string; last: Date | null }>(
    `SELECT count(*)::text AS n, max(issued_at) AS last FROM invoices WHERE reason = 'renewal' AND period_start = $1`, [new Date(instant)]);
  return { invoices: Number(rows[0]!.n), ...(rows[0]!.last ? { lastInvoiceAt: rows[0]!.last.getTime() } : {}) };
}

/**
 * When each subscription's next run started (its renewal is done once the run that wrote it has
 * continued-as-new), asked of every workflow itself: the full server's visibility store lags by
 * minutes in a storm, so a count query would time the lag, not the renewals.
 */
async function nextRunStarts(temporal: Client, ids: string[], instant: number): Promise<{ renewed: number; lastStartedAt?: number }> {
  let renewed = 0;
  let lastStartedAt: number | undefined;
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const description = await temporal.workflow.getHandle(`subscription-${id}`).describe();
      const started = description.startTime.getTime();
      if (description.status.name === 'RUNNING' && started >= instant) {
        renewed += 1;
        lastStartedAt = Math.max(lastStartedAt ?? 0, started);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  return { renewed, ...(lastStartedAt === undefined ? {} : { lastStartedAt }) };
}

/**
 * Workflow tasks that timed out in the runs that renewed, for a sample spread over all customers:
 * each one's previous run is named by its current run's first event (not looked up in visibility,
 * which lags in a storm).
 */
async function sampleTimeouts(temporal: Client, ids: string[]): Promise<{ sampled: number; withTimeouts: number; timeouts: number; kinds: Map<string, number> }> {
  const kinds = new Map<string, number>();
  let sampled = 0;
  let withTimeouts = 0;
  let timeouts = 0;
  const step = Math.max(1, Math.floor(ids.length / HISTORY_SAMPLE));
  for (let i = 0; i < ids.length && sampled < HISTORY_SAMPLE; i += step) {
    const workflowId = `subscription-${ids[i]!}`;
    const current = await temporal.workflow.getHandle(workflowId).fetchHistory();
    const previousRunId = current.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previousRunId) continue;
    const history = await temporal.workflow.getHandle(workflowId, previousRunId).fetchHistory();
    const timedOutEvents = (history.events ?? []).filter((e) => e.workflowTaskTimedOutEventAttributes);
    for (const event of timedOutEvents) {
      const type = event.workflowTaskTimedOutEventAttributes!.timeoutType;
      const name = type === 1 ? 'start-to-close' : type === 2 ? 'schedule-to-start' : `type ${type}`;
      kinds.set(name, (kinds.get(name) ?? 0) + 1);
    }
    sampled += 1;
    timeouts += timedOutEvents.length;
    if (timedOutEvents.length > 0) withTimeouts += 1;
  }
  return { sampled, withTimeouts, timeouts, kinds };
}

async function startTemporal(postgres: RunningPostgres, root: string): Promise<RunningTemporal> {
  const port = await freePort();
  if (SERVER === 'dev') return startTemporalDevServer({ port, dbFile: path.join(root, 'temporal.sqlite') });
  const { startTemporalServer } = await import('../scripts/services/temporalServer.js');
  const shards = process.env.BENCH_STORM_SHARDS ? Number(process.env.BENCH_STORM_SHARDS) : undefined;
  return startTemporalServer({ postgres, port, dataDir: path.join(root, 'temporal-server'), log, ...(shards ? { numHistoryShards: shards } : {}) });
}

async function main(): Promise<boolean> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-storm-'));
  chmodSync(root, 0o755); // as root, PostgreSQL runs as user `postgres`, which must reach the data dir
  stops.push({ name: 'temp dir', run: () => rmSync(root, { recursive: true, force: true }) });
  const catalog = loadCatalog(undefined);

  log(`starting PostgreSQL and the Temporal ${SERVER === 'full' ? 'server (PostgreSQL persistence)' : 'dev server (SQLite)'}`);
  const postgres = await startPostgres({ dataDir: path.join(root, 'pg', 'data'), port: await freePort(), persistent: false });
  stops.push({ name: 'PostgreSQL', run: () => postgres.stop() });
  await postgres.createDatabase('tollgate');
  const databaseUrl = postgres.url('tollgate');
  await migrate(databaseUrl);
  const temporal = await startTemporal(postgres, root);
  stops.push({ name: 'Temporal', run: () => temporal.stop() });
  const connection = await Connection.connect({ address: temporal.address });
  stops.push({ name: 'Temporal client', run: () => connection.close() });
  const client = new Client({ connection, namespace: 'default' });

  const env = { DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default', PAYMENT_PROVIDER: 'none', TOLLGATE_OPERATOR_KEY: OPERATOR_KEY, LOG_LEVEL: 'info' };
  // The worker's own node options (its heap limit), then BENCH_STORM_WORKER_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const workerNodeArgs = [...WORKER_NODE_ARGS, ...(process.env.BENCH_STORM_WORKER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '')];
  const worker = await spawnService('worker', 'worker/main.ts', env, (out) => out.includes('Tollgate worker running'), workerNodeArgs);
  const apiPort = await freePort();
  const api = await spawnService('API', 'api/main.ts', { ...env, PORT: String(apiPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, () => true);
  await waitForPort(apiPort, 60_000);
  const workerMemory = new MemoryWatch(worker.pid);
  const pidOfServer = serverPid(temporal);
  const serverMemory = pidOfServer ? new MemoryWatch(pidOfServer) : undefined;
  stops.push({ name: 'memory watch', run: () => { workerMemory.stop(); serverMemory?.stop(); } });
  const idleWorkerMiB = workerMemory.sample();

  // Every period ends at `instant`: far enough ahead for the import (at the issue's 150/s) and for
  // the workflows' first tasks to be done, so the storm meets a quiet system.
  const leadMs = process.env.BENCH_STORM_LEAD_SECONDS ? Number(process.env.BENCH_STORM_LEAD_SECONDS) * 1000 : Math.max(60_000, CUSTOMERS * 20 + 45_000);
  const instant = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
  const periodStart = instant - cycleMs(catalog.cycleDays);
  const ids = Array.from({ length: CUSTOMERS }, (_, i) => `storm-${String(i).padStart(6, '0')}`);
  log(`importing ${whole(CUSTOMERS)} customers on ${PLAN}, periods ending at ${new Date(instant).toISOString()} (in ${Math.round(leadMs / 1000)} s)`);
  const imported = await importCustomers(apiPort, ids, periodStart);
  if (imported.failed.length > 0) throw new Error(`${imported.failed.length} customers were not imported, e.g. ${JSON.stringify(imported.failed.slice(0, 3))}`);
  const importRate = CUSTOMERS / imported.seconds;
  log(`imported in ${imported.seconds.toFixed(1)} s (${whole(importRate)}/s); waiting for the instant`);
  if (Date.now() > instant - 5_000) throw new Error('the import took longer than the lead time: raise BENCH_STORM_LEAD_SECONDS');

  // Memory with every subscription live and asleep, just before the instant.
  while (Date.now() < instant - 2_000) await sleep(250);
  const liveWorkerMiB = workerMemory.sample();
  const liveServerMiB = serverMemory?.sample();
  workerMemory.resetPeak();
  serverMemory?.resetPeak();
  const cpuPids = { worker: worker.pid, ...(pidOfServer ? { server: pidOfServer } : {}), api: api.pid };
  while (Date.now() < instant) await sleep(50);
  const cpuBefore = cpuSnapshot(cpuPids);
  const workerLinesBefore = worker.lines();

  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  stops.push({ name: 'database client', run: () => db.end() });
  let last: Progress = { invoices: 0 };
  let lastLog = 0;
  while (Date.now() < instant + STORM_TIMEOUT_MS) {
    await sleep(1_000);
    last = await progress(db, instant);
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`T+${((Date.now() - instant) / 1000).toFixed(0)} s: ${whole(last.invoices)} renewal invoices; worker ${whole(workerMemory.last)} MiB${serverMemory ? `, server ${whole(serverMemory.last)} MiB` : ''}`);
    }
    if (last.invoices >= CUSTOMERS) break;
  }
  // Every invoice is written: the runs that wrote them continue-as-new in the same workflow task.
  let runs = await nextRunStarts(client, ids, instant);
  for (let tries = 0; runs.renewed < CUSTOMERS && tries < 60; tries++) {
    await sleep(1_000);
    runs = await nextRunStarts(client, ids, instant);
  }
  const lastRunAt = runs.renewed >= CUSTOMERS ? runs.lastStartedAt : undefined;
  const cpuAfter = cpuSnapshot(cpuPids);
  const cpu = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, cpuAfter[k as keyof CpuSnapshot] - cpuBefore[k as keyof CpuSnapshot]])) as CpuSnapshot;
  const stormWorkerPeak = workerMemory.peak;
  const stormServerPeak = serverMemory?.peak;

  // Checks.
  const problems: string[] = [];
  const { rows: perCustomer } = await db.query<{ n: string; customers: string }>(
    `SELECT n::text, count(*)::text AS customers FROM (
       SELECT c.id, count(i.id) AS n FROM customers c LEFT JOIN invoices i ON i.customer_id = c.id AND i.reason = 'renewal'
       WHERE c.id LIKE 'storm-%' GROUP BY c.id) t GROUP BY n ORDER BY n`);
  const exactlyOne = Number(perCustomer.find((r) => r.n === '1')?.customers ?? 0);
  if (exactlyOne !== CUSTOMERS) problems.push(`renewal invoices per customer: ${perCustomer.map((r) => `${r.customers} with ${r.n}`).join(', ')}`);
  for (const status of ['Failed', 'Terminated', 'TimedOut'] as const) {
    const { count } = await client.workflow.count(`WorkflowType = '${SUBSCRIPTION_WORKFLOW_TYPE}' AND ExecutionStatus = '${status}'`);
    if (count > 0) problems.push(`${count} workflows ${status}`);
  }
  if (lastRunAt === undefined) problems.push(`only ${runs.renewed} of ${CUSTOMERS} subscriptions are in their next run`);
  const timeouts = await sampleTimeouts(client, ids);
  if (timeouts.withTimeouts > 0) problems.push(`workflow task timeouts in ${timeouts.withTimeouts} of ${timeouts.sampled} sampled renewed runs (${timeouts.timeouts} in all: ${[...timeouts.kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`);
  const workerWarnings = worker.output.filter((line) => /"level":(40|50|60)/.test(line));

  const doneAt = Math.max(last.lastInvoiceAt ?? 0, lastRunAt ?? 0);
  const seconds = (doneAt - instant) / 1000;
  const rate = CUSTOMERS / seconds;
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const out: string[] = [];
  out.push(`## Renewal storm: ${whole(CUSTOMERS)} customers on ${PLAN}, periods ending at one instant`, '');
  out.push(`Temporal: ${SERVER === 'full' ? 'full server 1.32.2 on PostgreSQL (scripts/services/temporalServer.ts)' : 'CLI dev server, SQLite'}; worker: its shipped settings (worker/workerTuning.ts); ${os.cpus().length} cores.`, '');
  out.push('| what | measured | must reach | |', '|---|---|---|---|');
  out.push(`| import (POST /v1/customers/import, ${IMPORT_CHUNK} per request, ${IMPORT_CONCURRENCY} at once) | ${whole(importRate)} customers/s (${imported.seconds.toFixed(1)} s) | ≥ ${TARGET_IMPORT_PER_SECOND}/s | ${mark(importRate >= TARGET_IMPORT_PER_SECOND)} |`);
  out.push(`| last renewal invoice | T+${(((last.lastInvoiceAt ?? NaN) - instant) / 1000).toFixed(1)} s | | |`);
  out.push(`| last next run started (renewal done) | T+${lastRunAt === undefined ? '—' : ((lastRunAt - instant) / 1000).toFixed(1)} s | ≤ T+${Math.round(CUSTOMERS / TARGET_RENEWALS_PER_SECOND)} s | ${mark(lastRunAt !== undefined && seconds <= CUSTOMERS / TARGET_RENEWALS_PER_SECOND)} |`);
  out.push(`| renewals per second | ${Number.isFinite(rate) ? rate.toFixed(1) : '—'}/s | ≥ ${TARGET_RENEWALS_PER_SECOND.toFixed(1)}/s | ${mark(rate >= TARGET_RENEWALS_PER_SECOND)} |`);
  out.push(`| worker memory: idle / ${whole(CUSTOMERS)} live asleep / storm peak | ${whole(idleWorkerMiB)} / ${whole(liveWorkerMiB)} / ${whole(stormWorkerPeak)} MiB (${((liveWorkerMiB - idleWorkerMiB) / (CUSTOMERS / 1000)).toFixed(1)} MiB per 1,000 live) | ≤ ${whole(TARGET_WORKER_MIB)} MiB | ${mark(Math.max(liveWorkerMiB, stormWorkerPeak) <= TARGET_WORKER_MIB)} |`);
  if (serverMemory) out.push(`| Temporal server memory: live / storm peak | ${whole(liveServerMiB ?? 0)} / ${whole(stormServerPeak ?? 0)} MiB | | |`);
  out.push(`| workflow task timeouts (sampled renewed runs) | ${timeouts.withTimeouts} of ${timeouts.sampled} | none | ${mark(timeouts.withTimeouts === 0)} |`);
  out.push(`| renewal invoices per customer | ${perCustomer.map((r) => `${whole(Number(r.customers))} with ${r.n}`).join(', ')} | exactly 1 each | ${mark(exactlyOne === CUSTOMERS)} |`);
  out.push('');
  out.push(`CPU over the storm (user + system seconds; all cores busy = ${(2 * ((doneAt || Date.now()) - instant) / 1000).toFixed(0)} s): ` +
    `Temporal server ${cpu.server.toFixed(1)}, PostgreSQL ${cpu.postgres.toFixed(1)}, worker ${cpu.worker.toFixed(1)}, API ${cpu.api.toFixed(1)}; machine ${cpu.total.toFixed(1)}. ` +
    `The worker wrote ${whole(worker.lines() - workerLinesBefore)} log lines meanwhile.`, '');
  if (process.env.BENCH_STORM_VERBOSE) out.push('Worker output (last 5 lines):', ...worker.output.slice(-5).map((l) => `    ${l.slice(0, 600)}`), '');
  if (workerWarnings.length > 0) out.push(`Worker warnings (last ${Math.min(5, workerWarnings.length)} of ${workerWarnings.length}):`, ...workerWarnings.slice(-5).map((l) => `    ${l.slice(0, 400)}`), '');
  out.push(problems.length === 0 ? 'All checks held.' : `✗ ${problems.join('; ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (api.output.some((line) => /"level":(50|60)/.test(line))) problems.push('the API logged errors');
  return problems.length === 0;
}

process.once('SIGINT', () => {
  log('interrupted: stopping');
  void stopAll().finally(() => process.exit(130));
});
main()
  .then(async (ok) => {
    await stopAll();
    process.exit(ok ? 0 : 1);
  })
  .catch(async (error: unknown) => {
    log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    await stopAll();
    process.exit(1);
  });
