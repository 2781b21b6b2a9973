/**
 * The full Temporal server (go.temporal.io/server, built by findTemporalServer) persisting to
 * Tollgate's embedded PostgreSQL: the route for PostgreSQL persistence and scale runs, beside the
 * CLI dev server (SQLite + Web UI) that stays the default. It creates the `temporal` and
 * `temporal_visibility` databases and their schemas (once; later starts reuse them and apply only
 * newer schema versions), writes the server's config under `dataDir`, starts all four services in
 * one process, creates the `default` namespace and registers Tollgate's search attributes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import pg from 'pg';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { findTemporalServer } from '../tools.js';
import net from 'node:net';
import { waitForPort } from './freePort.js';
import type { RunningPostgres } from './postgres.js';
import type { RunningTemporal } from './temporalDevServer.js';

export interface TemporalServerOptions {
  postgres: RunningPostgres;
  /** Frontend gRPC port; omitted → a free one. */
  port?: number;
  /** Config files and the recorded shard count; the data itself lives in PostgreSQL. */
  dataDir: string;
  log?: (line: string) => void;
  /** Fixed when the schema is first created (default 4); a later start must pass the same. */
  numHistoryShards?: number;
  /** Extra dynamic config, `key: value` applied to every namespace and task queue (overrides ours). */
  dynamicConfig?: Record<string, unknown>;
}

const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;
const NAMESPACE = 'default';
/** gRPC status code. */
const ALREADY_EXISTS = 6;
const RETENTION = '3 days';
// 16: the storm bench renewed 10,000 at 26.7/s with 16 shards, 18.3/s with 4 and 17.6/s with 32.
const DEFAULT_SHARDS = 16;
const START_TIMEOUT_MS = 60_000;
/** system.namespaceCacheRefreshInterval (2 s by default) plus a margin. */
const NAMESPACE_CACHE_REFRESH_MS = 2_500;
const STOP_GRACE_MS = 10_000;

/**
 * Ours, on top of the module's config/dynamicconfig/development-sql.yaml (docs/architecture.md
 * says why each one is set).
 */
const TOLLGATE_DYNAMIC_CONFIG: Record<string, unknown> = {
  // Same as the dev server's flag (also the server's default, kept explicit): plan changes answer
  // after their write activity, and handing it straight back to the worker saves a queue trip.
  'system.enableActivityEagerExecution': true,
  // From the module's development config: Tollgate's workflow ids embed customer and subscription ids.
  'limit.maxIDLength': 255,
};

export async function startTemporalServer(options: TemporalServerOptions): Promise<RunningTemporal> {
  const tools = findTemporalServer();
  mkdirSync(options.dataDir, { recursive: true });
  const shards = checkShardCount(options.dataDir, options.numHistoryShards ?? DEFAULT_SHARDS);
  const credentials = new URL(options.postgres.url('postgres'));
  const db: Db = {
    port: options.postgres.port,
    user: decodeURIComponent(credentials.username),
    password: decodeURIComponent(credentials.password),
  };
  for (const [kind, name] of Object.entries(DATABASES)) {
    await options.postgres.createDatabase(name);
    await setUpSchema(tools.sql, db, name, path.join(tools.moduleDir, 'schema', 'postgresql', 'v12', kind, 'versioned'));
  }
  writeFileSync(path.join(options.dataDir, 'num-history-shards'), `${shards}\n`);

  // Ports are picked free just before the server binds them; another process can take one in
  // between. Such a start fails at once with a bind error: try fresh ports.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(tools.server, attempt === 1 ? options : { ...options, port: undefined, fresh: true }, db, shards);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortTakenError)) break;
    }
  }
  throw lastError;
}

interface Db { port: number; user: string; password: string }

interface Ports {
  frontend: number; frontendMembership: number; frontendHttp: number;
  history: number; historyMembership: number;
  matching: number; matchingMembership: number;
  worker: number; workerMembership: number;
}

class PortTakenError extends Error {}

/** The shard count cannot change once the schema holds data: refuse a different one. */
function checkShardCount(dataDir: string, wanted: number): number {
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`numHistoryShards must be a positive integer (got ${wanted})`);
  const file = path.join(dataDir, 'num-history-shards');
  if (!existsSync(file)) return wanted;
  const recorded = Number(readFileSync(file, 'utf8').trim());
  if (recorded !== wanted) {
    throw new Error(`the Temporal server data in ${dataDir} was created with ${recorded} history shards; ` +
      `it cannot run with ${wanted}. Pass numHistoryShards: ${recorded}, or start from an empty data folder.`);
  }
  return recorded;
}

/** `setup-schema` once (a fresh database), then `update-schema` whenever the module has newer versions. */
async function setUpSchema(sqlTool: string, db: Db, database: string, versionedDir: string): Promise<void> {
  const current = await schemaVersion(db, database).catch((error: Error) => {
    throw new Error(`the Temporal server's database ${database}: ${error.message}`);
  });
  const latest = readdirSync(versionedDir).filter((d) => /^v\d+\.\d+$/.test(d)).map((d) => d.slice(1))
    .sort(compareVersions).at(-1);
  if (!latest) throw new Error(`no versioned schema in ${versionedDir}`);
  if (current !== undefined && compareVersions(current, latest) >= 0) return;
  const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(db.port), '-u', db.user, '--pw', db.password,
    '--db', database];
  const run = (args: string[]) => {
    const result = spawnSync(sqlTool, [...base, ...args], { encoding: 'utf8', timeout: 120_000 });
    if (result.status !== 0) {
      const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().slice(-1500);
      throw new Error(`the Temporal sql tool failed on ${database} (${args[0]}, exit ${result.status ?? 'timeout'}): ${output}`);
    }
  };
  if (current === undefined) run(['setup-schema', '-v', '0.0']);
  run(['update-schema', '-d', versionedDir]);
}

/** The schema version the sql tool recorded, or undefined before its setup. */
async function schemaVersion(db: Db, database: string): Promise<string | undefined> {
  const client = new pg.Client({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database });
  await client.connect();
  try {
    const result = await client.query<{ curr_version: string }>(
      'SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1', [database]);
    return result.rows[0]?.curr_version;
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return undefined; // no schema_version table yet
    throw error;
  } finally {
    await client.end();
  }
}

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

async function startOnce(serverBinary: string, options: TemporalServerOptions & { fresh?: boolean }, db: Db, shards: number): Promise<RunningTemporal> {
  const ports = await choosePorts(options.dataDir, options.port, options.fresh ?? false);
  const dynamicConfigFile = path.join(options.dataDir, 'dynamicconfig.yaml');
  const configFile = path.join(options.dataDir, 'config.yaml');
  writeFileSync(dynamicConfigFile, dynamicConfigYaml({
    // From the module's development-sql.yaml, pointed at our HTTP port.
    'component.nexusoperations.callback.endpoint.template':
      `http://127.0.0.1:${ports.frontendHttp}/namespaces/{{.NamespaceName}}/nexus/callback`,
    'callback.allowedAddresses': [{ Pattern: '*', AllowInsecure: true }],
    ...TOLLGATE_DYNAMIC_CONFIG,
    ...options.dynamicConfig,
  }));
  writeFileSync(configFile, serverConfigYaml(ports, db, shards, dynamicConfigFile), { mode: 0o600 });

  const child: ChildProcess = spawn(serverBinary, ['--config-file', configFile, '--allow-no-auth', 'start'],
    { cwd: options.dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const forward = (chunk: Buffer) => {
    const text = chunk.toString();
    recent.push(text);
    if (recent.length > 30) recent.shift();
    options.log?.(text);
  };
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  let exited: string | undefined;
  const exit = new Promise<never>((_, reject) => {
    child.once('error', (error) => { exited = `could not run ${serverBinary}: ${error.message}`; reject(new Error(exited)); });
    child.once('exit', (code, signal) => { exited = `exited with ${code ?? signal}`; reject(new Error(exited)); });
  });
  exit.catch(() => undefined);
  try {
    await Promise.race([waitForPort(ports.frontend, START_TIMEOUT_MS), exit]);
    // A port answering while our server already died belongs to someone else.
    if (exited) throw new Error(exited);
    await Promise.race([setUpNamespace(`127.0.0.1:${ports.frontend}`, () => exited !== undefined), exit]);
  } catch (error) {
    child.kill('SIGKILL');
    const tail = recent.join('').slice(-2000);
    const message = `the Temporal server did not start (${exited ?? (error as Error).message}): ${tail}`;
    throw /address already in use|bind:/i.test(tail) ? new PortTakenError(message) : new Error(message);
  }
  return {
    address: `127.0.0.1:${ports.frontend}`,
    ...(child.pid === undefined ? {} : { pid: child.pid }),
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

const PORT_NAMES = ['frontend', 'frontendMembership', 'frontendHttp', 'history', 'historyMembership', 'matching',
  'matchingMembership', 'worker', 'workerMembership'] as const;
/**
 * The server records each service's membership port in a SMALLINT column (cluster_membership.rpc_port),
 * so ports above 32767 fail every heartbeat: pick from below the usual ephemeral range (32768+).
 */
const PORT_RANGE = { min: 20_000, max: 32_767 };

/**
 * The previous start's ports when they are all still free (the cluster_membership table then
 * names the same hosts as before), else new ones; `port` fixes the frontend's.
 */
async function choosePorts(dataDir: string, port: number | undefined, fresh: boolean): Promise<Ports> {
  const file = path.join(dataDir, 'ports.json');
  const taken = new Set<number>();
  let previous: Partial<Ports> = {};
  try {
    if (!fresh && existsSync(file)) previous = JSON.parse(readFileSync(file, 'utf8')) as Partial<Ports>;
  } catch {
    previous = {};
  }
  const ports: Partial<Ports> = {};
  for (const name of PORT_NAMES) {
    if (name === 'frontend' && port && !await isFree(port)) throw new PortTakenError(`port ${port} is taken`);
    const wanted = name === 'frontend' && port ? port : previous[name];
    const chosen = wanted !== undefined && !taken.has(wanted) && (name === 'frontend' && port ? true : await isFree(wanted))
      ? wanted
      : await freePortInRange(taken);
    taken.add(chosen);
    ports[name] = chosen;
  }
  writeFileSync(file, `${JSON.stringify(ports, null, 2)}\n`);
  return ports as Ports;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePortInRange(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.min + Math.floor(Math.random() * (PORT_RANGE.max - PORT_RANGE.min + 1));
    if (!taken.has(port) && await isFree(port)) return port;
  }
  throw new Error(`no free port between ${PORT_RANGE.min} and ${PORT_RANGE.max} on 127.0.0.1`);
}

/**
 * Creates the `default` namespace and registers Tollgate's search attributes (both idempotent).
 * The frontend's port opens before every service has joined the ring, and a new namespace (and,
 * on SQL visibility, its search-attribute aliases, which are namespace metadata) reaches the
 * services' namespace caches only on their next refresh (every 2 s): retry until it all holds,
 * and after a change wait out one refresh so the worker's first upsert finds the attributes.
 */
async function setUpNamespace(address: string, serverDied: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let connection: Connection | undefined;
  let created = false;
  let changed = false;
  try {
    for (;;) {
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 5_000 });
        if (!created) {
          await connection.workflowService.registerNamespace({
            namespace: NAMESPACE,
            workflowExecutionRetentionPeriod: msToTs(RETENTION),
          }).then(() => { changed = true; }, (error: Error & { code?: number }) => {
            if (error.code !== ALREADY_EXISTS && !/already exists/i.test(error.message)) throw error;
          });
          created = true;
        }
        if ((await registerSearchAttributes(connection, NAMESPACE)).length > 0) changed = true;
        break;
      } catch (error) {
        if (serverDied()) return; // the caller reports the exit
        if (Date.now() > deadline) {
          throw new Error(`the Temporal server started but namespace ${NAMESPACE} could not be set up: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    if (changed) await new Promise((resolve) => setTimeout(resolve, NAMESPACE_CACHE_REFRESH_MS));
  } finally {
    await connection?.close();
  }
}

/** A YAML double-quoted scalar (JSON strings are valid YAML). */
const q = (value: string) => JSON.stringify(value);

/** Dynamic config: each key one unconstrained value, written as JSON (a subset of YAML). */
function dynamicConfigYaml(values: Record<string, unknown>): string {
  return `# Written by Tollgate (scripts/services/temporalServer.ts) at every start; edits are overwritten.\n` +
    Object.entries(values).map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`).join('');
}

/** The server config: the module's config/development-postgres12.yaml with our addresses, ports and database. */
function serverConfigYaml(ports: Ports, db: Db, shards: number, dynamicConfigFile: string): string {
  const datastore = (database: string, maxConns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: ${q(database)}
        connectAddr: ${q(`127.0.0.1:${db.port}`)}
        connectProtocol: "tcp"
        user: ${q(db.user)}
        password: ${q(db.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const service = (grpc: number, membership: number, extra = '') => `    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${extra}`;
  return `# Written by Tollgate (scripts/services/temporalServer.ts) at every start; edits are overwritten.
log:
  stdout: true
  level: "warn"
  format: "console"

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${shards}
  datastores:
    postgres-default:
${datastore(DATABASES.temporal, 20)}
    postgres-visibility:
${datastore(DATABASES.visibility, 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
  frontend:
${service(ports.frontend, ports.frontendMembership, `\n      httpPort: ${ports.frontendHttp}`)}
  matching:
${service(ports.matching, ports.matchingMembership)}
  history:
${service(ports.history, ports.historyMembership)}
  worker:
${service(ports.worker, ports.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: ${q(`127.0.0.1:${ports.frontend}`)}
      httpAddress: ${q(`127.0.0.1:${ports.frontendHttp}`)}

dcRedirectionPolicy:
  policy: "noop"

archival:
  history:
    state: "disabled"
  visibility:
    state: "disabled"

namespaceDefaults:
  archival:
    history:
      state: "disabled"
    visibility:
      state: "disabled"

dynamicConfigClient:
  filepath: ${q(dynamicConfigFile)}
  pollInterval: "10s"
`;
}
