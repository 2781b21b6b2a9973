/**
 * The statement pipeline (store/statementPipeline.ts) on the real PostgreSQL, with and without
 * node-postgres's pipeline mode: what COMMIT does after a statement the server refused, after one
 * that never left this process, and that nothing is sent once the transaction is given up.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../store/db.js';
import { StatementPipeline } from '../../store/statementPipeline.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let database: TestDatabase;
const pools: Record<'pipelining' | 'one by one', pg.Pool> = {} as never;

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  pools.pipelining = createPool(database.url, { max: 2, pipeline: true });
  pools['one by one'] = createPool(database.url, { max: 2 });
  await pools['one by one'].query('CREATE TABLE t (n int PRIMARY KEY CHECK (n > 0))');
});
afterAll(async () => {
  await Promise.all(Object.values(pools).map((pool) => pool.end()));
  await database?.close();
});

/** A parameter node-postgres fails to serialize: the statement never reaches the server. */
const unsendable = { toPostgres: () => { throw new Error('cannot serialize'); } };

async function rows(): Promise<number[]> {
  return (await pools['one by one'].query<{ n: number }>('SELECT n FROM t ORDER BY n')).rows.map((r) => r.n);
}

describe.each(['pipelining', 'one by one'] as const)('the statement pipeline, %s', (mode) => {
  const inTransaction = async (body: (client: pg.PoolClient, pipeline: StatementPipeline) => Promise<void>) => {
    await pools['one by one'].query('TRUNCATE t');
    const client = await pools[mode].connect();
    try {
      const pipeline = new StatementPipeline(client);
      expect(client.pipeline).toBe(mode === 'pipelining');
      await body(client, pipeline);
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  };

  it('commits what was sent', async () => {
    await inTransaction(async (client, pipeline) => {
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (1)'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (2)'));
      await pipeline.commit(client);
    });
    expect(await rows()).toEqual([1, 2]);
  });

  it('reports the first statement the server refused, and commits nothing', async () => {
    await inTransaction(async (client, pipeline) => {
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (1)'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (-1)'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (3)'));
      await expect(pipeline.commit(client)).rejects.toMatchObject({ code: '23514' });
    });
    expect(await rows()).toEqual([]);
  });

  // Each sends BEGIN, INSERT 1, then a step that fails without reaching the server (so nothing
  // would stop a COMMIT sent behind it but the pipeline itself).
  it.each<[string, (client: pg.PoolClient) => Promise<unknown>, string]>([
    ['a statement that never left this process', (client) => client.query('INSERT INTO t VALUES ($1)', [unsendable]), 'cannot serialize'],
    ['a statement node-postgres refused to send (reported on the next tick)', (client) => client.query({ name: 'pipeline-test', text: 'SELECT 2' }), 'Prepared statements must be unique'],
    ['a step that threw before its statement', () => { throw new Error('a bug before the query'); }, 'a bug before the query'],
  ])('sends no COMMIT after %s', async (_name, failingStep, message) => {
    await inTransaction(async (client, pipeline) => {
      await client.query({ name: 'pipeline-test', text: 'SELECT 1' });
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (1)'));
      pipeline.send(() => failingStep(client));
      await expect(pipeline.commit(client)).rejects.toThrow(message);
    });
    expect(await rows()).toEqual([]);
  });

  it('reports a failure the way mapError says', async () => {
    await inTransaction(async (client, pipeline) => {
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (0)'), (error) => new Error(`mapped ${(error as { code?: string }).code}`));
      await expect(pipeline.commit(client)).rejects.toThrow('mapped 23514');
    });
    expect(await rows()).toEqual([]);
  });

  it('sends nothing once given up, and abandon waits for what was sent', async () => {
    await inTransaction(async (client, pipeline) => {
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (1)'));
      await pipeline.abandon();
      const late = pipeline.send(() => client.query('INSERT INTO t VALUES (2)'));
      await expect(late).rejects.toThrow('given up');
      // The connection is idle: a statement of the caller's runs at once. Pipelining, the INSERT
      // had gone out with BEGIN; one by one, it was still waiting for BEGIN's answer and never went.
      expect((await client.query('SELECT count(*)::int AS n FROM t')).rows[0]).toEqual({ n: mode === 'pipelining' ? 1 : 0 });
    });
    expect(await rows()).toEqual([]);
  });
});

describe('the statement pipeline, pipelining, on the socket', () => {
  it("sends a round trip's statements, COMMIT included, in one write", async () => {
    await pools['one by one'].query('TRUNCATE t');
    const client = await pools.pipelining.connect();
    // The socket's writes that reach the OS: one call of _write or _writev each.
    const socket = (client as unknown as { connection: { stream: { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown } } }).connection.stream;
    const original = { write: socket._write, writev: socket._writev };
    let writes = 0;
    socket._write = function (...args) { writes += 1; return original.write.apply(this, args); };
    socket._writev = function (...args) { writes += 1; return original.writev.apply(this, args); };
    try {
      const pipeline = new StatementPipeline(client);
      pipeline.send(() => client.query('BEGIN'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (1)'));
      await pipeline.all();
      expect(writes).toBe(1);
      pipeline.send(() => client.query('INSERT INTO t VALUES (2)'));
      pipeline.send(() => client.query('INSERT INTO t VALUES (3)'));
      await pipeline.commit(client);
      expect(writes).toBe(2);
    } finally {
      socket._write = original.write;
      socket._writev = original.writev;
      client.release();
    }
    expect(await rows()).toEqual([1, 2, 3]);
  });
});
