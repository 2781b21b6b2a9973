/** POST /v1/customers/import against the Temporal dev server and a real PostgreSQL. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/createApp.js';
import { DAY_MS } from '../../billing/period.js';
import { freePort } from '../../scripts/services/freePort.js';
import { insertImportedCustomers } from '../../store/customerImport.js';
import { insertCustomer } from '../../store/customerStore.js';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { workflowExists as existsOnServer } from '../harness/workflowExists.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

const run = randomUUID().slice(0, 6);
let serial = 0;
const newId = (prefix = 'imp') => `${prefix}-${run}-${String(serial++).padStart(4, '0')}`;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();
const customer = (overrides: Record<string, unknown> = {}) => ({ id: newId(), name: 'Imported Co', email: 'billing@imported.test', plan: 'pro', periodStart: daysAgo(10), ...overrides });
const importCustomers = (customers: unknown[], options: { auth?: string | null; headers?: Record<string, string> } = {}) =>
  api.request('POST', '/v1/customers/import', { body: { customers }, ...options });

const workflowExists = (customerId: string) => existsOnServer(api.temporal, customerId);

/** Rows of the tables an import writes, across the whole database. */
async function rowCounts() {
  const { db } = api.database;
  return { customers: await db.customer.count(), subscriptions: await db.subscription.count(), usageCounters: await db.usageCounter.count() };
}

async function expectNothingCreated(ids: readonly string[]) {
  const { db } = api.database;
  expect(await db.customer.count({ where: { id: { in: [...ids] } } })).toBe(0);
  expect(await db.subscription.count({ where: { customerId: { in: [...ids] } } })).toBe(0);
  expect(await db.usageCounter.count({ where: { customerId: { in: [...ids] } } })).toBe(0);
  for (const id of ids) expect(await workflowExists(id), id).toBe(false);
}

describe('POST /v1/customers/import', () => {
  const PLANS = ['free', 'basic', 'pro', 'enterprise'] as const;
  /** 50 customers: four plans, periods begun 1–20 days ago (yearly ones 45 days ago), usage so far. */
  const batch = Array.from({ length: 50 }, (_, i) => {
    const yearly = i % 10 === 9;
    return customer({
      name: `Imported ${i}`,
      plan: PLANS[i % 4],
      ...(yearly ? { interval: 'yearly' } : {}),
      periodStart: daysAgo(yearly ? 45 : 1 + (i % 20)),
      usage: { api_calls: i * 7 },
    });
  });

  it('imports 50 customers with their periods and usage so far; the usage card shows both, and every workflow runs', async () => {
    const before = await rowCounts();
    const res = await importCustomers(batch);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 50, existing: 0, failed: 0 });
    expect(res.body.results.map((r: { id: string }) => r.id)).toEqual(batch.map((c) => c.id));
    for (const [i, result] of (res.body.results as Array<Record<string, any>>).entries()) {
      expect(result.status, result.id).toBe('created');
      expect(result.subscription).toMatchObject({ plan: PLANS[i % 4], interval: i % 10 === 9 ? 'yearly' : 'monthly', status: 'active', currentPeriod: { start: batch[i]!.periodStart } });
    }
    expect(await rowCounts()).toEqual({ customers: before.customers + 50, subscriptions: before.subscriptions + 50, usageCounters: before.usageCounters + 50 });

    const cards = await Promise.all(batch.map((c) => api.request('GET', `/v1/customers/${c.id}/subscription`)));
    for (const [i, card] of cards.entries()) {
      const start = Date.parse(batch[i]!.periodStart);
      const yearly = i % 10 === 9;
      expect(card.status).toBe(200);
      expect(card.body).toMatchObject({ customerId: batch[i]!.id, plan: { id: PLANS[i % 4] }, status: 'active', interval: yearly ? 'yearly' : 'monthly' });
      expect(card.body.currentPeriod).toEqual({ start: batch[i]!.periodStart, end: new Date(start + (yearly ? 360 : 30) * DAY_MS).toISOString() });
      // A yearly period's usage cycle is its current 30 days (the second one, 45 days in).
      expect(card.body.currentCycle.start).toBe(new Date(start + (yearly ? 30 : 0) * DAY_MS).toISOString());
      expect(card.body.usage).toEqual([expect.objectContaining({ metric: 'api_calls', used: i * 7 })]);
    }

    const descriptions = await Promise.all(batch.map((c) => api.temporal.workflow.getHandle(subscriptionWorkflowId(c.id)).describe()));
    for (const description of descriptions) {
      expect(description.status.name).toBe('RUNNING');
      expect(description.taskQueue).toBe(api.taskQueue);
    }

    // The imported usage is the counter the ledger counts on.
    const event = await api.request('POST', '/v1/usage/events', { body: { customerId: batch[6]!.id, metric: 'api_calls', quantity: 5, idempotencyKey: 'after-import' } });
    expect(event.status).toBe(200);
    expect(event.body).toMatchObject({ status: 'counted', used: 6 * 7 + 5 });
    // An imported period is not invoiced (paid elsewhere).
    expect(await api.database.db.invoice.count({ where: { customerId: { in: batch.map((c) => c.id) } } })).toBe(0);
  });

  it('re-running the same import changes nothing: every customer `exists`, no row is added, one workflow each', async () => {
    const runIds = await Promise.all(batch.map(async (c) => (await api.temporal.workflow.getHandle(subscriptionWorkflowId(c.id)).describe()).runId));
    const before = await rowCounts();
    const res = await importCustomers(batch);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 0, existing: 50, failed: 0 });
    expect(res.body.results.every((r: { status: string }) => r.status === 'exists')).toBe(true);
    expect(res.body.results[9].subscription).toMatchObject({ plan: 'basic', interval: 'yearly', currentPeriod: { start: batch[9]!.periodStart } });
    expect(await rowCounts()).toEqual(before);
    // Usage is written once: the re-run did not reset the counter the event above moved.
    const card = await api.request('GET', `/v1/customers/${batch[6]!.id}/subscription`);
    expect(card.body.usage[0].used).toBe(6 * 7 + 5);

    expect(await Promise.all(batch.map(async (c) => (await api.temporal.workflow.getHandle(subscriptionWorkflowId(c.id)).describe()).runId))).toEqual(runIds);
    const ids = new Set(batch.map((c) => subscriptionWorkflowId(c.id)));
    const executions = await eventually(async () => {
      const found: string[] = [];
      for await (const wf of api.temporal.workflow.list({ query: `TaskQueue = "${api.taskQueue}"` })) if (ids.has(wf.workflowId)) found.push(wf.workflowId);
      return found.length >= 50 ? found : undefined;
    });
    expect(executions).toHaveLength(50);
    expect(new Set(executions).size).toBe(50);
  });

  it('per-customer failures (unknown plan or metric, bad seats or period, another customer with the id) leave the others created', async () => {
    const taken = newId('taken');
    expect((await api.request('POST', '/v1/customers', { body: { id: taken, name: 'Taken Co', email: 'billing@taken.test', plan: 'basic' } })).status).toBe(201);
    const customers = [
      customer({ usage: { api_calls: 3 } }),
      customer({ plan: 'platinum' }),
      customer({ usage: { api_calls: 1, storage_gb: 5 } }),
      customer({ seats: 3 }),
      customer({ periodStart: new Date(Date.now() + DAY_MS).toISOString() }),
      customer({ periodStart: daysAgo(31) }),
      customer({ id: taken, plan: 'pro' }),
      customer({ plan: 'enterprise', interval: 'yearly' }),
    ];
    const res = await importCustomers(customers);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ created: 2, existing: 0, failed: 6 });
    expect(res.body.results.map((r: { id: string; status: string; code?: string }) => [r.id, r.status, r.code])).toEqual([
      [customers[0]!.id, 'created', undefined],
      [customers[1]!.id, 'failed', 'unknown_plan'],
      [customers[2]!.id, 'failed', 'unknown_metric'],
      [customers[3]!.id, 'failed', 'invalid_seats'],
      [customers[4]!.id, 'failed', 'invalid_period_start'],
      [customers[5]!.id, 'failed', 'invalid_period_start'],
      [taken, 'failed', 'customer_exists'],
      [customers[7]!.id, 'created', undefined],
    ]);
    expect(res.body.results[2].message).toContain('storage_gb');
    await expectNothingCreated([1, 2, 3, 4, 5].map((i) => customers[i]!.id));
    // The customer that already existed is left as it was.
    expect((await api.request('GET', `/v1/customers/${taken}/subscription`)).body.plan.id).toBe('basic');
    for (const i of [0, 7]) expect(await workflowExists(customers[i]!.id)).toBe(true);
    expect((await api.request('GET', `/v1/customers/${customers[0]!.id}/subscription`)).body.usage[0].used).toBe(3);
  });

  it('a Stripe customer that belongs to another customer fails that customer only', async () => {
    const stripeCustomerId = `cus_${run}import`;
    const first = customer({ stripeCustomerId });
    expect((await importCustomers([first])).body.results[0].status).toBe('created');
    const second = customer({ stripeCustomerId });
    const other = customer();
    const res = await importCustomers([second, other]);
    expect(res.body.results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual(['stripe_customer_taken', 'created']);
    await expectNothingCreated([second.id]);
  });

  it('finishes an import cut short between its commit and its workflow starts: the missing workflows are started, the customers `exist`', async () => {
    const cut = [{ ...customer(), used: 11 }, { ...customer({ plan: 'basic' }), periodStart: undefined, used: 0 }];
    const now = Date.now();
    // The rows as the import writes them, with no workflow (the API process died right after its commit).
    await insertImportedCustomers(api.database.db, cut.map((c) => ({
      customer: { id: c.id, name: c.name, email: c.email },
      input: newSubscriptionInput({ catalog: api.catalog, customerId: c.id, planId: c.plan, interval: 'monthly', seats: 1, importedPeriodStart: c.periodStart ? Date.parse(c.periodStart) : undefined, now, paymentProvider: 'none' }),
      usage: c.used ? [{ metric: 'api_calls', used: BigInt(c.used) }] : [],
    })));
    for (const c of cut) expect(await workflowExists(c.id)).toBe(false);
    const res = await importCustomers(cut.map(({ used, ...c }) => ({ ...c, ...(used ? { usage: { api_calls: used } } : {}) })));
    expect(res.body).toMatchObject({ created: 0, existing: 2, failed: 0 });
    for (const c of cut) expect(await workflowExists(c.id), c.id).toBe(true);
    // The one without periodStart is a new subscription: its workflow invoices its first period.
    const invoices = await eventually(async () => {
      const found = await api.request('GET', `/v1/customers/${cut[1]!.id}/invoices`);
      return found.body.data.length === 1 ? found.body.data : undefined;
    });
    expect(invoices[0]).toMatchObject({ reason: 'subscription_create', total: { amount: '10.00' } });
    expect((await api.request('GET', `/v1/customers/${cut[0]!.id}/subscription`)).body.usage[0].used).toBe(11);
  });

  it('writes the subscription row exactly as insertCustomer does (POST /v1/customers), and the same customer row', async () => {
    const now = Date.now();
    const input = (id: string) => newSubscriptionInput({ catalog: api.catalog, customerId: id, planId: 'enterprise', interval: 'yearly', seats: 1, importedPeriodStart: now - 40 * DAY_MS, now, paymentProvider: 'stripe' });
    const [single, bulk] = [newId('row'), newId('row')];
    await insertCustomer(api.database.db, { id: single, name: 'Row Co', email: 'billing@row.test', providerCustomerId: `cus_${run}single` }, input(single));
    await insertImportedCustomers(api.database.db, [{ customer: { id: bulk, name: 'Row Co', email: 'billing@row.test', providerCustomerId: `cus_${run}bulk` }, input: input(bulk), usage: [] }]);
    const rows = await api.database.db.subscription.findMany({ where: { customerId: { in: [single, bulk] } }, orderBy: { customerId: 'asc' } });
    const comparable = ({ customerId: _c, workflowId, updatedAt: _u, ...rest }: (typeof rows)[number]) => ({ ...rest, workflowId: workflowId.replace(/row-.*/, '') });
    expect(rows).toHaveLength(2);
    expect(comparable(rows[1]!)).toEqual(comparable(rows[0]!));
    expect(rows[1]!.workflowId).toBe(subscriptionWorkflowId(bulk));
    const customers = await api.database.db.customer.findMany({ where: { id: { in: [single, bulk] } }, orderBy: { id: 'asc' } });
    expect(customers.map(({ name, email, providerCustomerId }) => ({ name, email, providerCustomerId }))).toEqual([
      { name: 'Row Co', email: 'billing@row.test', providerCustomerId: `cus_${run}single` },
      { name: 'Row Co', email: 'billing@row.test', providerCustomerId: `cus_${run}bulk` },
    ]);
  });

  describe('a malformed request changes nothing', () => {
    const valid = () => customer({ usage: { api_calls: 1 } });
    const dupe = valid();
    const requests: Array<[string, () => { rawBody?: string; body?: unknown; headers?: Record<string, string> }, number, string]> = [
      ['not JSON', () => ({ rawBody: '{"customers": [' }), 400, 'invalid_json'],
      ['a non-JSON content type', () => ({ rawBody: 'customers=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, 'invalid_json'],
      ['no body', () => ({}), 400, 'invalid_json'],
      ['customers not a list', () => ({ body: { customers: 'all of them' } }), 400, 'validation_failed'],
      ['an empty list', () => ({ body: { customers: [] } }), 400, 'validation_failed'],
      ['a bare list', () => ({ body: [valid()] }), 400, 'validation_failed'],
      ['one customer of the list with seats as a string', () => ({ body: { customers: [valid(), customer({ seats: 'two' })] } }), 400, 'validation_failed'],
      ['an unknown field on a customer', () => ({ body: { customers: [valid(), customer({ coupon: 'FREE' })] } }), 400, 'validation_failed'],
      ['negative usage', () => ({ body: { customers: [valid(), customer({ usage: { api_calls: -1 } })] } }), 400, 'validation_failed'],
      ['fractional usage', () => ({ body: { customers: [customer({ usage: { api_calls: 1.5 } })] } }), 400, 'validation_failed'],
      ['a malformed metric id', () => ({ body: { customers: [customer({ usage: { 'API Calls': 1 } })] } }), 400, 'validation_failed'],
      ['a __proto__ metric', () => ({ rawBody: JSON.stringify({ customers: [customer()] }).replace('"periodStart"', '"usage":{"__proto__":1},"periodStart"') }), 400, 'validation_failed'],
      ['1,001 customers', () => ({ body: { customers: Array.from({ length: 1001 }, () => valid()) } }), 422, 'too_many_customers'],
      ['an id given twice', () => ({ body: { customers: [valid(), dupe, valid(), { ...dupe, name: 'Again' }] } }), 422, 'duplicate_customer_id'],
      ['a Stripe customer given twice', () => ({ body: { customers: [customer({ stripeCustomerId: 'cus_twice' }), customer({ stripeCustomerId: 'cus_twice' })] } }), 422, 'duplicate_stripe_customer_id'],
    ];
    for (const [what, make, status, code] of requests) {
      it(`${what}: ${status} ${code}`, async () => {
        const request = make();
        const before = await rowCounts();
        const res = await api.request('POST', '/v1/customers/import', request);
        expect(res.status).toBe(status);
        expect(Object.keys(res.body)).toEqual(['error']);
        expect(res.body.error.code).toBe(code);
        expect(typeof res.body.error.message).toBe('string');
        expect(await rowCounts()).toEqual(before);
        const listed = (request.body as { customers?: Array<{ id?: string }> } | undefined)?.customers;
        if (Array.isArray(listed)) await expectNothingCreated(listed.slice(0, 3).map((c) => c.id).filter((id): id is string => typeof id === 'string'));
      });
    }

    it('names the offending field and index', async () => {
      const res = await importCustomers([valid(), customer({ seats: 'two' })]);
      expect(res.body.error.details.issues).toEqual([expect.objectContaining({ path: 'customers.1.seats' })]);
      const twice = await importCustomers([valid(), dupe, { ...dupe, name: 'Again' }]);
      expect(twice.body.error).toMatchObject({ code: 'duplicate_customer_id', details: { id: dupe.id, indexes: [1, 2] } });
      expect(twice.body.error.message).toContain('customers.2.id');
    });
  });

  it('needs the operator API key', async () => {
    const body = [customer()];
    for (const auth of [null, 'not-the-key']) {
      const res = await importCustomers(body, { auth });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    await expectNothingCreated([body[0]!.id]);
  });

  it('is in the OpenAPI document', async () => {
    const document = (await api.request('GET', '/openapi.json', { auth: null })).body;
    const operation = document.paths['/v1/customers/import'].post;
    expect(JSON.stringify(operation.responses['422'])).toContain('too_many_customers');
    expect(document.components.schemas.ImportCustomers.properties.customers.maxItems).toBe(1000);
  });
});

describe('POST /v1/customers/import with Temporal unreachable', () => {
  it('reports `temporal_unavailable` per customer and removes their rows and usage (nothing was created)', async () => {
    // Nothing listens there; no retries, so each start and describe fails at once.
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] });
    const app = createApp({
      db: api.database.db,
      temporal: new Client({ connection, namespace: 'default' }),
      taskQueue: api.taskQueue,
      catalog: api.catalog,
      operatorKey: OPERATOR_KEY,
      logger: pino({ level: 'silent' }),
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const customers = [customer({ usage: { api_calls: 4 } }), customer({ plan: 'free' })];
      const before = await rowCounts();
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/customers/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customers }),
      });
      const body = await response.json() as { results: Array<{ status: string; code?: string; message?: string }>; failed: number };
      expect(response.status).toBe(200);
      expect(body.failed).toBe(2);
      expect(body.results.map((r) => r.code)).toEqual(['temporal_unavailable', 'temporal_unavailable']);
      expect(body.results[0]!.message).toContain('nothing was created');
      expect(await rowCounts()).toEqual(before);
      await expectNothingCreated(customers.map((c) => c.id));
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await connection.close().catch(() => undefined);
    }
  });
});
