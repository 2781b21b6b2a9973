/**
 * `npm start`: everything on one machine, no Docker. Embedded PostgreSQL and the Temporal CLI dev
 * server (SQLite file + Web UI) keep their data under one folder (TOLLGATE_DATA_DIR, default
 * `.data/`) that survives restarts; migrations run; then the worker and the API start as their
 * own processes, exactly as `npm run worker` / `npm run api` (and docker-compose) run them. One
 * of them that dies is restarted with backoff, as an orchestrator would; Ctrl-C stops everything.
 * DATABASE_URL or TEMPORAL_ADDRESS, when set, point at real services instead of embedded ones.
 * `TOLLGATE_TEMPORAL=server` (or `npm start -- --temporal=server`) runs the full Temporal server
 * on the embedded PostgreSQL instead of the dev server (no Web UI then; see docs/architecture.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '../prisma/migrate.js';
import { generatePrismaClient } from './prepare.js';
import { freePort, waitForPort } from './services/freePort.js';
import { startPostgres, type RunningPostgres } from './services/postgres.js';
import { startTemporalDevServer, type RunningTemporal } from './services/temporalDevServer.js';
import { startTemporalServer } from './services/temporalServer.js';
import { projectRoot } from './tools.js';
import { WORKER_NODE_ARGS } from '../worker/heapLimit.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function portOr(preferred: number): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => void freePort().then(resolve));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

interface OperatorKey {
  key: string;
  /** Where it comes from, for humans: the file, or the environment variable. */
  source: string;
  /** A shell expression that yields it, for example commands: the key itself is never printed. */
  shell: string;
}

/** Quotes a path for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[\w./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function operatorKey(dataDir: string): OperatorKey {
  const fromEnv = process.env.TOLLGATE_OPERATOR_KEY;
  if (fromEnv) return { key: fromEnv, source: 'from TOLLGATE_OPERATOR_KEY', shell: '$TOLLGATE_OPERATOR_KEY' };
  const file = path.join(dataDir, 'operator-key');
  const stored = { source: `stored in ${file}`, shell: `$(cat ${shellQuote(file)})` };
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), ...stored };
  const key = `tg_op_${randomBytes(24).toString('hex')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, ...stored };
}

/**
 * Enough of the key to tell which one is in use, never enough to use it: terminals are scrolled
 * back, shared and recorded. At most 10 characters and at most a quarter of the key.
 */
function keyHint(key: string): string {
  return `${key.slice(0, Math.min(10, Math.floor(key.length / 4)))}…`;
}

/** Restart delays of a child process that died: 1 s, doubling up to 30 s. */
const RESTART_FIRST_DELAY_MS = 1_000;
const RESTART_MAX_DELAY_MS = 30_000;
/** A child that stayed up this long was healthy: its next restart starts from the first delay again. */
const RESTART_STABLE_AFTER_MS = 60_000;

/** Waits for `work` to settle, at most `ms`; its failure is not ours to report while stopping. */
async function settledWithin(work: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work?.catch(() => undefined), new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

function exitReason(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code ?? 'unknown'}`;
}

/** Which Temporal `npm start` runs: the CLI dev server (default) or the full server on PostgreSQL. */
function temporalMode(): 'dev' | 'server' {
  const args = process.argv.slice(2);
  const flag = args.findIndex((arg) => arg === '--temporal' || arg.startsWith('--temporal='));
  const value = flag < 0 ? process.env.TOLLGATE_TEMPORAL
    : args[flag]!.includes('=') ? args[flag]!.slice('--temporal='.length) : args[flag + 1];
  if (value === undefined || value === '' || value === 'dev') return 'dev';
  if (value === 'server') return 'server';
  throw new Error(`unknown Temporal mode "${value}" (TOLLGATE_TEMPORAL / --temporal): use "dev" (the default) or "server"`);
}

async function main() {
  const dataDir = path.resolve(process.env.TOLLGATE_DATA_DIR ?? path.join(projectRoot, '.data'));
  mkdirSync(dataDir, { recursive: true });
  const apiPort = Number(process.env.PORT ?? 3000);
  /** Children running now (a dead one leaves the set until its restart). */
  const children = new Set<ChildProcess>();
  const restarts = new Set<NodeJS.Timeout>();
  let postgres: RunningPostgres | undefined;
  let temporal: RunningTemporal | undefined;
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    const running = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
    await Promise.all(running.map((child) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); }, 15_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    })));
    // A service that died on its own never reports stopping: do not wait for it for ever.
    await settledWithin(temporal?.stop(), 20_000);
    await settledWithin(postgres?.stop(), 20_000);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await run();
  } catch (error) {
    // Whatever was started so far goes down with us: no orphaned worker, API or database.
    process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`);
    await stop(1);
  }

  async function run() {
    const mode = temporalMode();
    if (mode === 'server' && !process.env.TEMPORAL_ADDRESS && process.env.DATABASE_URL) {
      throw new Error('the full Temporal server (TOLLGATE_TEMPORAL=server) runs on the embedded PostgreSQL: unset DATABASE_URL, ' +
        'or point TEMPORAL_ADDRESS at your own Temporal server');
    }
    generatePrismaClient();

    let databaseUrl = process.env.DATABASE_URL;
    if (!databaseUrl) {
      const pgPort = await portOr(Number(process.env.TOLLGATE_PG_PORT ?? 54329));
      // The data folder is Tollgate's: as root, PostgreSQL's user may be let into it (never into the folders above it).
      postgres = await startPostgres({ dataDir: path.join(dataDir, 'pg', 'data'), ownedDir: dataDir, port: pgPort, persistent: true });
      await postgres.createDatabase('tollgate');
      databaseUrl = postgres.url('tollgate');
    }
    const applied = await migrate(databaseUrl);
    if (applied.length > 0) say(`migrations applied: ${applied.join(', ')}`);

    let temporalAddress = process.env.TEMPORAL_ADDRESS;
    let uiUrl = process.env.TEMPORAL_UI_URL;
    const log = process.env.TOLLGATE_DEBUG ? (line: string) => process.stderr.write(line) : undefined;
    if (!temporalAddress && mode === 'server') {
      say('starting the full Temporal server on the embedded PostgreSQL (no Web UI in this mode: it comes with the dev server)');
      temporal = await startTemporalServer({
        postgres: postgres!,
        port: await portOr(Number(process.env.TEMPORAL_PORT ?? 7233)),
        dataDir: path.join(dataDir, 'temporal-server'),
        log,
      });
      temporalAddress = temporal.address;
    } else if (!temporalAddress) {
      temporal = await startTemporalDevServer({
        port: await portOr(Number(process.env.TEMPORAL_PORT ?? 7233)),
        uiPort: await portOr(Number(process.env.TEMPORAL_UI_PORT ?? 8233)),
        dbFile: path.join(dataDir, 'temporal.sqlite'),
        log,
      });
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl;
    }

    const operator = operatorKey(dataDir);
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TOLLGATE_OPERATOR_KEY: operator.key,
      PORT: String(apiPort),
    };
    /**
     * Runs a child and restarts it whenever it dies (a crash must not take the rest of the stack
     * down), waiting longer after each quick death so a child that cannot start does not spin.
     */
    const supervise = (name: string, entry: string, nodeArgs: readonly string[] = []) => {
      let delay = RESTART_FIRST_DELAY_MS;
      const launch = () => {
        if (stopping) return;
        const startedAt = Date.now();
        const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], { cwd: projectRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
        children.add(child);
        let gone = false;
        const onGone = (reason: string) => {
          if (gone) return;
          gone = true;
          children.delete(child);
          if (stopping) return;
          if (Date.now() - startedAt >= RESTART_STABLE_AFTER_MS) delay = RESTART_FIRST_DELAY_MS;
          process.stderr.write(`tollgate: ${name} stopped unexpectedly (${reason}); restarting it in ${delay / 1000} s\n`);
          const timer = setTimeout(() => { restarts.delete(timer); launch(); }, delay);
          restarts.add(timer);
          delay = Math.min(delay * 2, RESTART_MAX_DELAY_MS);
        };
        child.once('exit', (code, signal) => onGone(exitReason(code, signal)));
        // Spawning itself failed ('exit' may then never come).
        child.once('error', (error) => onGone(error.message));
      };
      launch();
    };
    supervise('worker', 'worker/main.ts', WORKER_NODE_ARGS);
    supervise('api', 'api/main.ts');
    await waitForPort(apiPort, 60_000);

    say('');
    say('Tollgate is running.');
    say(`  API          http://127.0.0.1:${apiPort}   (OpenAPI: http://127.0.0.1:${apiPort}/openapi.json)`);
    if (uiUrl) say(`  Temporal UI  ${uiUrl}`);
    else if (mode === 'server' && temporal) say('  Temporal UI  (none: the full server has no Web UI; the dev server, the default, has one)');
    say(`  Temporal     ${temporalAddress}${mode === 'server' && temporal ? '   (full server, PostgreSQL)' : ''}`);
    say(`  PostgreSQL   ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
    say(`  Data         ${postgres || temporal ? dataDir : '(external services)'}`);
    say(`  Operator key ${keyHint(operator.key)}   (${operator.source})`);
    say('');
    say(`  curl -X POST http://127.0.0.1:${apiPort}/v1/customers -H "Authorization: Bearer ${operator.shell}" \\`);
    say(`       -H 'Content-Type: application/json' -d '{"id":"acme","name":"Acme","email":"billing@acme.test","plan":"pro"}'`);
    say('');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
