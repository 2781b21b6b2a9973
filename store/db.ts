/** The Prisma client over node-postgres (Prisma 7's engine-free query path), and the pools under it. */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

/** Where a pool reports a lost connection (pino's logger fits). */
export interface PoolLogger {
  warn(object: object, message: string): void;
}

export interface PoolOptions {
  max?: number;
  logger?: PoolLogger;
  /** Names the pool in its log lines. */
  name?: string;
  /** Server settings for every connection (`-c name=value`), sent when it starts. */
  serverOptions?: string;
  /**
   * node-postgres's pipeline mode: queries issued without awaiting the one before go out at once
   * (store/usageLedger.ts sends BEGIN and COMMIT beside its statements). Queries awaited one by
   * one behave as without it.
   */
  pipeline?: boolean;
}

/**
 * A pg.Pool that outlives PostgreSQL restarts. node-postgres emits 'error' on a client whose
 * connection dies, whether it sits idle in the pool (which re-emits it on the pool) or is checked
 * out between two queries, and an 'error' event nobody listens to ends the process. With a
 * listener on the pool and on every client, the pool drops a broken client (an idle one at once;
 * a checked-out one when it is released, as it is no longer queryable) and opens new connections
 * on demand once PostgreSQL is back: no broken client is handed out again.
 */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // A stopped server refuses at once; an unreachable one must not hold requests forever. Ten
    // seconds is also the longest a request waits for a free connection (Prisma's old default).
    connectionTimeoutMillis: 10_000,
    // Notices a peer that vanished without closing the socket (a failover, a dropped route).
    keepAlive: true,
    // Tells the pools apart in pg_stat_activity.
    application_name: `tollgate-${options.name ?? 'pg'}`,
    ...(options.serverOptions ? { options: options.serverOptions } : {}),
    ...(options.pipeline ? { pipeline: true } : {}),
  });
  // The client's own listener below has already reported it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    let reported = false;
    // A dying connection emits twice (the server's error, then the socket's end): report once.
    client.on('error', (err) => {
      if (reported) return;
      reported = true;
      options.logger?.warn({ err, pool: options.name ?? 'pg' }, 'database connection lost; the pool replaces it');
    });
  });
  return pool;
}

export function createDb(databaseUrl: string, options: { maxConnections?: number; logger?: PoolLogger } = {}): Db {
  const pool = createPool(databaseUrl, { max: options.maxConnections ?? 10, logger: options.logger, name: 'prisma' });
  // The adapter ends a pool it was handed only when told to; $disconnect() must end this one.
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  // A transaction waits for a pooled connection as long as a plain query does (the pool's
  // connectionTimeoutMillis), not Prisma's 2 s: in a burst (a renewal storm) a short wait for a
  // connection is normal, and failing it would only retry the whole activity later.
  return new PrismaClient({ adapter, transactionOptions: { maxWait: 10_000 } });
}
