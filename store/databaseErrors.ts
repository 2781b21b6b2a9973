/**
 * Tells "PostgreSQL is unreachable right now" (a restart, a failover, a killed connection, a
 * network blip) from every other database failure. The first is worth a 503 and a retry; the
 * rest are bugs or bad data and stay 500s. Both servers (Express and the lean usage handler) and
 * the worker's alert relay ask this one function, so they agree on what an outage is.
 *
 * The same outage reaches us in several wrappings: node-postgres gives socket errors (`code`
 * ECONNREFUSED…), server errors (`code` SQLSTATE) or plain `Error`s with a fixed message; Prisma's
 * pg adapter wraps those in a `DriverAdapterError` whose `cause` has a `kind` (and the SQLSTATE as
 * `originalCode`), which the Prisma client wraps again (a `P1xxx` code, or P2010 for a raw query,
 * with the adapter's error in `meta.driverAdapterError`). So the error and everything it wraps
 * (`cause`, `meta.driverAdapterError`, `errors` of an AggregateError) is looked at, a few levels deep.
 */

/** Socket-level failures: the server is gone, restarting, or not reachable. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server going away or not yet taking connections: 57P01 admin_shutdown (fast
 * shutdown, pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or
 * shutting down), 53300 too_many_connections (a restarting fleet reconnecting at once). Class 08
 * (connection exception) is matched by prefix below.
 */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * Prisma's codes for the same: P1001 can't reach the server, P1002 reached but timed out, P1008
 * socket timeout, P1017 server closed the connection, P2024 timed out waiting for a pooled
 * connection, P2037 too many connections.
 */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);

/** `DriverAdapterError.cause.kind` values the pg adapter uses for the socket codes above. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/** node-postgres and pg-pool failures that carry no code, only these messages. */
const MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'terminating connection due to administrator command',
  'the database system is starting up',
  'the database system is shutting down',
  'the database system is in recovery mode',
  'server closed the connection unexpectedly',
];

const MAX_DEPTH = 6;

function codeMeansUnavailable(code: string): boolean {
  return SOCKET_CODES.has(code) || SQLSTATES.has(code) || PRISMA_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

function selfMeansUnavailable(error: object): boolean {
  const { code, originalCode, kind, message } = error as { code?: unknown; originalCode?: unknown; kind?: unknown; message?: unknown };
  if (typeof code === 'string' && codeMeansUnavailable(code)) return true;
  // A Unix socket that is not there: the server stopped (it removes its socket file) or has not
  // made it yet. The embedded PostgreSQL is reached through one (scripts/services/postgres.ts).
  // Only on connect (node-postgres sets `syscall`; the Prisma client keeps only the code and the
  // message): a missing file anywhere else is not an outage.
  if (code === 'ENOENT' && ((error as { syscall?: unknown }).syscall === 'connect' || (typeof message === 'string' && message.includes('connect ENOENT')))) return true;
  if (typeof originalCode === 'string' && codeMeansUnavailable(originalCode)) return true;
  if (typeof kind === 'string' && ADAPTER_KINDS.has(kind)) return true;
  return typeof message === 'string' && MESSAGES.some((m) => message.includes(m));
}

/** True when `error` (or anything it wraps) says the database could not be reached or dropped the connection. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<object>();
  const visit = (value: unknown, depth: number): boolean => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || seen.has(value)) return false;
    seen.add(value);
    if (selfMeansUnavailable(value)) return true;
    const { cause, errors, meta } = value as { cause?: unknown; errors?: unknown; meta?: { driverAdapterError?: unknown } };
    if (visit(cause, depth + 1)) return true;
    if (typeof meta === 'object' && meta !== null && visit(meta.driverAdapterError, depth + 1)) return true;
    return Array.isArray(errors) && errors.some((inner) => visit(inner, depth + 1));
  };
  return visit(error, 0);
}
