/**
 * What counts as "the database is unavailable" (503, retry) and what stays a 500. The shapes are
 * the ones node-postgres, pg-pool, Prisma's pg adapter and the Prisma client were seen to throw
 * (test/e2e/postgresRestart.test.ts produces them for real).
 */
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../store/databaseErrors.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a Unix socket that is gone (the server stopped)', Object.assign(withCode('ENOENT', 'connect ENOENT /tmp/.s.PGSQL.5432'), { syscall: 'connect', address: '/tmp/.s.PGSQL.5432' })],
    ['the same through the Prisma client', Object.assign(withCode('ENOENT', 'Invalid `db.customer.findFirst()` invocation:\n\nconnect ENOENT /tmp/.s.PGSQL.5432'), { name: 'PrismaClientKnownRequestError', meta: { modelName: 'Customer' } })],
    ['a reset connection', withCode('ECONNRESET')],
    ['a broken pipe', withCode('EPIPE')],
    ['a connect timeout', withCode('ETIMEDOUT')],
    ['admin_shutdown (fast shutdown, pg_terminate_backend)', withCode('57P01', 'terminating connection due to administrator command')],
    ['crash_shutdown', withCode('57P02')],
    ['cannot_connect_now', withCode('57P03', 'the database system is starting up')],
    ['a connection exception (class 08)', withCode('08006')],
    ['a connection lost without a code', new Error('Connection terminated unexpectedly')],
    ['a client that lost its connection', new Error('Client has encountered a connection error and is not queryable')],
    ['pg-pool waiting too long for a connection', new Error('timeout exceeded when trying to connect')],
    ['Prisma P1001', withCode('P1001', "Can't reach database server")],
    ['Prisma P1017', withCode('P1017', 'Server has closed the connection.')],
    ['a DriverAdapterError', Object.assign(new Error('DatabaseNotReachable'), { name: 'DriverAdapterError', cause: { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5432 } })],
    ['a raw query failing on a refused connection (P2010)', Object.assign(new Error('Raw query failed.'), { code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } } })],
    ['a raw query cut by a shutdown (P2010)', Object.assign(new Error('Raw query failed.'), { code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'postgres', code: '57P01', originalCode: '57P01' } } } })],
    ['an error wrapping one', new Error('could not record', { cause: withCode('ECONNREFUSED') })],
    ['an AggregateError of connection attempts', Object.assign(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'connect failed'))],
  ])('%s is an outage', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', withCode('23505', 'duplicate key value violates unique constraint')],
    ['a missing file (not a connect)', Object.assign(withCode('ENOENT', "ENOENT: no such file or directory, open 'catalog.json'"), { syscall: 'open' })],
    ['Prisma P2002', withCode('P2002', 'Unique constraint failed')],
    ['a syntax error', withCode('42601')],
    ['a deadlock', withCode('40P01')],
    ['a raw query failing on bad SQL (P2010)', Object.assign(new Error('Raw query failed.'), { code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'postgres', code: '42703' } } } })],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a pool used after end()', new Error('Cannot use a pool after calling end on the pool')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
    ['null', null],
  ])('%s is not an outage', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isDatabaseUnavailable(a)).toBe(false);
  });
});
