/**
 * The allow/refuse check's in-process view (api/usage/usageView.ts) against the real PostgreSQL
 * and Temporal dev server, with TWO API servers on one database (as two API processes would be):
 * - a process sees its own events at once, answered from memory;
 * - the other process hears of them (the counter notifications) and answers from memory too;
 * - a plan change reaches both (the subscriptions trigger);
 * - with its listening connection killed, a process answers from the database, then listens again;
 * - for random interleavings of events and checks on both processes, a check never shows less
 *   than the checking process's own answered events, and once quiet both agree with the database.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type TollgateServer } from '../../api/createServer.js';
import { checkUsage } from '../../store/usageLedger.js';
import { OPERATOR_KEY, startApiHarness, UNREACHED_RATE_LIMITS, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;
let other: TollgateServer;
let otherUrl: string;
let pool: pg.Pool;

beforeAll(async () => {
  api = await startApiHarness();
  other = createServer({ db: api.database.db, databaseUrl: api.database.url, temporal: api.temporal, taskQueue: api.taskQueue, catalog: api.catalog, operatorKey: OPERATOR_KEY, logger: pino({ level: 'silent' }), rateLimits: UNREACHED_RATE_LIMITS });
  await other.ready;
  await new Promise<void>((resolve) => other.server.listen(0, '127.0.0.1', resolve));
  otherUrl = `http://127.0.0.1:${(other.server.address() as AddressInfo).port}`;
  pool = new pg.Pool({ connectionString: api.database.url, max: 2 });
});
afterAll(async () => {
  await other?.close();
  await pool?.end();
  await api?.close();
});

type Side = 'a' | 'b';

async function call(side: Side, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  if (side === 'a') return api.request(method, path, body === undefined ? {} : { body });
  const response = await fetch(`${otherUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const viewOf = (side: Side) => (side === 'a' ? api.usageView : other.usageView);

async function newCustomer(plan: string): Promise<string> {
  const id = `v-${randomUUID().slice(0, 8)}`;
  const res = await api.request('POST', '/v1/customers', { body: { id, name: 'View Co', email: 'ops@view.test', plan } });
  expect(res.status).toBe(201);
  return id;
}

const record = (side: Side, customerId: string, quantity: number, key = randomUUID()) =>
  call(side, 'POST', '/v1/usage/events', { customerId, metric: 'api_calls', quantity, idempotencyKey: key });
const check = (side: Side, customerId: string, quantity = 1) => call(side, 'GET', `/v1/usage/check?customerId=${customerId}&metric=api_calls&quantity=${quantity}`);

async function fromDatabase(customerId: string, quantity = 1) {
  const answer = await checkUsage(pool, api.catalog, { customerId, metric: 'api_calls', quantity: BigInt(quantity), now: Date.now() });
  return { allowed: answer!.allowed, used: Number(answer!.used), limit: Number(answer!.limit) };
}

describe('the usage check view', () => {
  it('a process answers its own events from memory, at once', async () => {
    const id = await newCustomer('free');
    expect((await check('a', id)).body).toMatchObject({ allowed: true, used: 0, limit: 1000 });
    const before = viewOf('a').stats();
    expect((await record('a', id, 400)).status).toBe(200);
    expect((await check('a', id, 600)).body).toMatchObject({ allowed: true, used: 400, remaining: 600 });
    expect((await record('a', id, 600)).status).toBe(200);
    expect((await check('a', id, 1)).body).toMatchObject({ allowed: false, used: 1000, remaining: 0 });
    const after = viewOf('a').stats();
    expect(after.answeredInProcess - before.answeredInProcess).toBe(2);
    expect(after.answeredByDatabase).toBe(before.answeredByDatabase);
  });

  it('another process hears of the events and answers from memory too', async () => {
    const id = await newCustomer('free');
    expect((await check('b', id)).body).toMatchObject({ used: 0 });
    const before = viewOf('b').stats();
    expect((await record('a', id, 999)).status).toBe(200);
    const seen = await eventually(async () => {
      const answer = (await check('b', id, 2)).body;
      return answer.used === 999 ? answer : undefined;
    }, 5_000, 5);
    expect(seen).toMatchObject({ allowed: false, used: 999, remaining: 1 });
    // Every answer since came from memory: the news arrived, no entry was read again.
    expect(viewOf('b').stats().answeredByDatabase).toBe(before.answeredByDatabase);
  });

  it('a plan change reaches every process\'s view', async () => {
    const id = await newCustomer('free');
    expect((await record('a', id, 1000)).status).toBe(200);
    expect((await check('a', id)).body).toMatchObject({ allowed: false, limit: 1000 });
    expect((await check('b', id)).body).toMatchObject({ allowed: false, limit: 1000 });
    const upgrade = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'basic' } });
    expect(upgrade.status).toBe(200);
    for (const side of ['a', 'b'] as const) {
      await eventually(async () => (await check(side, id)).body.limit === 30000, 5_000, 5);
      expect((await check(side, id)).body).toMatchObject({ allowed: true, used: 1000, limit: 30000 });
    }
  });

  it('a subscription row edited by hand reaches the view (the trigger), an unrelated column does not drop the entry', async () => {
    const id = await newCustomer('free');
    await check('b', id);
    const before = viewOf('b').stats();
    await pool.query('UPDATE subscriptions SET seats = seats WHERE customer_id = $1', [id]);
    await pool.query(`UPDATE subscriptions SET plan_id = 'pro' WHERE customer_id = $1`, [id]);
    await eventually(async () => (await check('b', id)).body.limit === 300000, 5_000, 5);
    // Read once again after the plan edit, not after the seats one: one database answer more.
    expect(viewOf('b').stats().answeredByDatabase - before.answeredByDatabase).toBe(1);
  });

  it('a notification not in the expected form is ignored', async () => {
    const id = await newCustomer('free');
    await check('b', id);
    await pool.query(`SELECT pg_notify('tollgate_usage_counters', 'not json'), pg_notify('tollgate_usage_counters', '[["${id}","api_calls",1,"-5"]]')`);
    expect((await record('a', id, 10)).status).toBe(200);
    await eventually(async () => (await check('b', id)).body.used === 10, 5_000, 5);
  });

  it('with its listening connection killed, a process answers from the database, then listens again', async () => {
    const id = await newCustomer('free');
    await check('b', id);
    const lost = { a: viewOf('a').stats().connectionsLost, b: viewOf('b').stats().connectionsLost };
    const { rows } = await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tollgate-usage-view' AND datname = current_database()`);
    expect(rows).toHaveLength(2);
    await eventually(() => viewOf('a').stats().connectionsLost > lost.a && viewOf('b').stats().connectionsLost > lost.b, 5_000, 5);
    // Whatever happens meanwhile is answered truly (from the database until listening again).
    expect((await record('a', id, 250)).status).toBe(200);
    expect((await check('b', id)).body).toMatchObject({ used: 250 });
    await eventually(() => viewOf('a').stats().listening && viewOf('b').stats().listening, 10_000, 20);
    expect((await check('b', id)).body).toMatchObject({ used: 250 });
    expect((await record('a', id, 5)).status).toBe(200);
    await eventually(async () => (await check('b', id)).body.used === 255, 5_000, 5);
  });

  it('USAGE_VIEW_MAX_CUSTOMERS bounds the view (0: every check asks the database) and USAGE_VIEW_MAX_AGE_MS reads an entry again', async () => {
    const ids = [await newCustomer('free'), await newCustomer('free')];
    const serve = async (usageView: { maxCustomers?: number; maxAgeMs?: number }) => {
      const server = createServer({ db: api.database.db, databaseUrl: api.database.url, temporal: api.temporal, taskQueue: api.taskQueue, catalog: api.catalog, operatorKey: OPERATOR_KEY, logger: pino({ level: 'silent' }), usageView, rateLimits: UNREACHED_RATE_LIMITS });
      await server.ready;
      return server;
    };
    const ask = (server: TollgateServer, customerId: string) => server.usageView.check(api.catalog, { customerId, metric: 'api_calls', quantity: 1n, now: Date.now() });
    for (const [options, expected] of [
      [{ maxCustomers: 0 }, { customers: 0, answeredInProcess: 0, answeredByDatabase: 6 }],
      [{ maxCustomers: 1 }, { customers: 1, answeredInProcess: 3, answeredByDatabase: 3 }],
      [{ maxAgeMs: 0 }, { customers: 2, answeredInProcess: 0, answeredByDatabase: 6 }],
    ] as const) {
      const server = await serve(options);
      try {
        // Each customer three times in a row, then the first again: an evicted or aged entry is read again.
        for (const id of [ids[0]!, ids[0]!, ids[1]!, ids[1]!, ids[1]!, ids[0]!]) expect((await ask(server, id))?.used).toBe(0n);
        expect(server.usageView.stats()).toMatchObject(expected);
      } finally {
        await server.close();
      }
    }
  });

  it('random interleavings: a check never shows less than its own process answered, and both end equal to the database', async () => {
    const customers = [await newCustomer('free'), await newCustomer('basic'), await newCustomer('enterprise')];
    type Op = { kind: 'record' | 'check'; side: Side; customer: number; quantity: number };
    const op = fc.record({ kind: fc.constantFrom('record' as const, 'check' as const), side: fc.constantFrom('a' as const, 'b' as const), customer: fc.integer({ min: 0, max: 2 }), quantity: fc.integer({ min: 1, max: 400 }) });
    await fc.assert(fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }), async (rounds: Op[][]) => {
      // The highest `used` each process answered a record with, per customer.
      const answered = new Map<string, number>();
      for (const round of rounds) {
        // A round's operations run at once: any interleaving the servers produce.
        await Promise.all(round.map(async (o) => {
          const id = customers[o.customer]!;
          const seenBefore = answered.get(`${o.side}:${id}`) ?? 0;
          if (o.kind === 'record') {
            const res = await record(o.side, id, o.quantity);
            expect([200, 429]).toContain(res.status);
            const used = res.status === 200 ? res.body.used : res.body.error.details.used;
            answered.set(`${o.side}:${id}`, Math.max(answered.get(`${o.side}:${id}`) ?? 0, used));
          } else {
            const res = await check(o.side, id, o.quantity);
            expect(res.status).toBe(200);
            expect(res.body.used).toBeGreaterThanOrEqual(seenBefore);
          }
        }));
      }
      for (const id of customers) {
        const truth = await fromDatabase(id, 100);
        for (const side of ['a', 'b'] as const) {
          await eventually(async () => {
            const answer = (await check(side, id, 100)).body;
            expect({ allowed: answer.allowed, used: answer.used, limit: answer.limit }).toEqual(truth);
            return true;
          }, 5_000, 5);
        }
      }
    }), { numRuns: 15, seed: 11 });
    expect(viewOf('a').stats().answeredInProcess).toBeGreaterThan(0);
    expect(viewOf('b').stats().answeredInProcess).toBeGreaterThan(0);
  });
});
