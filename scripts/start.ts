/**
 * `npm start`: everything on one machine, no Docker. Embedded PostgreSQL and the Temporal CLI dev
 * server (SQLite file + Web UI) keep their data under one folder (TOLLGATE_DATA_DIR, default
 * `.data/`) that survives restarts; migrations run; then the worker and the API start as their
 * own processes, exactly as `npm run worker` / `npm run api` (and docker-compose) run them.
 * DATABASE_URL or TEMPORAL_ADDRESS, when set, point at real services instead of embedded ones.
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
import { projectRoot } from './tools.js';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function portOr(preferred: number): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => void freePort().then(resolve));
    server.listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

function operatorKey(dataDir: string): string {
  if (process.env.TOLLGATE_OPERATOR_KEY) return process.env.TOLLGATE_OPERATOR_KEY;
  const file = path.join(dataDir, 'operator-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `tg_op_${randomBytes(24).toString('hex')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

async function main() {
  const dataDir = path.resolve(process.env.TOLLGATE_DATA_DIR ?? path.join(projectRoot, '.data'));
  mkdirSync(dataDir, { recursive: true });
  const apiPort = Number(process.env.PORT ?? 3000);
  const children: ChildProcess[] = [];
  let postgres: RunningPostgres | undefined;
  let temporal: RunningTemporal | undefined;
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exitCode !== null ? undefined : new Promise((r) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); r(undefined); }, 15_000);
      child.once('exit', () => { clearTimeout(timer); r(undefined); });
    })));
    await temporal?.stop().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  generatePrismaClient();

  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pgPort = await portOr(Number(process.env.TOLLGATE_PG_PORT ?? 54329));
    postgres = await startPostgres({ dataDir: path.join(dataDir, 'pg', 'data'), port: pgPort, persistent: true });
    await postgres.createDatabase('tollgate');
    databaseUrl = postgres.url('tollgate');
  }
  const applied = await migrate(databaseUrl);
  if (applied.length > 0) say(`migrations applied: ${applied.join(', ')}`);

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let uiUrl = process.env.TEMPORAL_UI_URL;
  if (!temporalAddress) {
    temporal = await startTemporalDevServer({
      port: await portOr(Number(process.env.TEMPORAL_PORT ?? 7233)),
      uiPort: await portOr(Number(process.env.TEMPORAL_UI_PORT ?? 8233)),
      dbFile: path.join(dataDir, 'temporal.sqlite'),
      log: process.env.TOLLGATE_DEBUG ? (line) => process.stderr.write(line) : undefined,
    });
    temporalAddress = temporal.address;
    uiUrl = temporal.uiUrl;
  }

  const key = operatorKey(dataDir);
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TOLLGATE_OPERATOR_KEY: key,
    PORT: String(apiPort),
  };
  const run = (name: string, entry: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: projectRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`${name} stopped unexpectedly (${code ?? signal}); shutting everything down\n`);
      void stop(1);
    });
    children.push(child);
  };
  run('worker', 'worker/main.ts');
  run('api', 'api/main.ts');
  await waitForPort(apiPort, 60_000);

  say('');
  say('Tollgate is running.');
  say(`  API          http://127.0.0.1:${apiPort}   (OpenAPI: http://127.0.0.1:${apiPort}/openapi.json)`);
  if (uiUrl) say(`  Temporal UI  ${uiUrl}`);
  say(`  Temporal     ${temporalAddress}`);
  say(`  PostgreSQL   ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}`);
  say(`  Data         ${postgres || temporal ? dataDir : '(external services)'}`);
  say(`  Operator key ${key}`);
  say('');
  say(`  curl -X POST http://127.0.0.1:${apiPort}/v1/customers -H "Authorization: Bearer ${key}" \\`);
  say(`       -H 'Content-Type: application/json' -d '{"id":"acme","name":"Acme","email":"billing@acme.test","plan":"pro"}'`);
  say('');
}

main().catch((error: unknown) => {
  process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
