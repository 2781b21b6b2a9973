/**
 * The API process (`npm run api`, api/main.ts) reloads its catalog file on SIGHUP, as the worker
 * does, without a restart; a file that is not a valid catalog, or one that no longer prices a plan
 * a subscription is on, is refused and the API keeps serving the catalog it has (issue 15).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { DEFAULT_CATALOG_PATH } from '../../config/loadCatalog.js';
import { freePort } from '../../scripts/services/freePort.js';
import { projectRoot } from '../../scripts/tools.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';

const OPERATOR_KEY = 'reload-operator-key-0123456789';
let database: TestDatabase;
let api: ChildProcess | undefined;
let baseUrl: string;
let output = '';
const folder = mkdtempSync(path.join(tmpdir(), 'tollgate-catalog-'));
const catalogFile = path.join(folder, 'catalog.json');
const original = JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as { plans: Array<{ id: string; price: { monthly: string } }> };

const withPlans = (edit: (plans: typeof original.plans) => typeof original.plans) => JSON.stringify({ ...original, plans: edit(original.plans) }, null, 2);

async function call(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const basicPrice = async (customerId: string) => {
  const plans = await call('GET', `/v1/customers/${customerId}/plans`);
  expect(plans.status).toBe(200);
  return { basic: plans.body.plans.find((p: { id: string }) => p.id === 'basic')?.prices.monthly.amount as string, ids: plans.body.plans.map((p: { id: string }) => p.id) as string[] };
};

/** Sends SIGHUP and waits for the API's log line about it (every reload logs one). */
async function hangUp(expected: string): Promise<void> {
  const from = output.length;
  api!.kill('SIGHUP');
  await eventually(() => output.slice(from).includes(expected) || undefined, 20_000);
}

beforeAll(async () => {
  database = await createTestDatabase();
  writeFileSync(catalogFile, readFileSync(DEFAULT_CATALOG_PATH, 'utf8'));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  api = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'api/main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env, DATABASE_URL: database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: `reload-${randomUUID()}`,
      TOLLGATE_OPERATOR_KEY: OPERATOR_KEY, TOLLGATE_CATALOG: catalogFile, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  api.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  api.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
  await eventually(() => {
    if (api!.exitCode !== null) throw new Error(`the API exited: ${output.slice(-2000)}`);
    return output.includes('Tollgate API listening') || undefined;
  }, 60_000);
});

afterAll(async () => {
  if (api && api.exitCode === null) {
    const exited = new Promise((resolve) => api!.once('exit', resolve));
    api.kill('SIGKILL');
    await exited;
  }
  await database?.close();
  rmSync(folder, { recursive: true, force: true });
});

it('SIGHUP picks up an edited catalog at once; an invalid file or one dropping a plan in use is refused and the current one kept', async () => {
  let n = 0;
  /** What a customer created now starts on: the API's current catalog (Basic's price, the plan ids). */
  const current = async () => {
    const id = `reload-${randomUUID().slice(0, 8)}-${n++}`;
    expect((await call('POST', '/v1/customers', { id, name: 'Reload Co', email: 'reload@example.test', plan: 'pro' })).status).toBe(201);
    return { id, ...(await basicPrice(id)) };
  };
  const first = await current();
  expect(first).toMatchObject({ basic: '10.00', ids: ['free', 'basic', 'pro', 'enterprise'] });

  writeFileSync(catalogFile, withPlans((plans) => plans.map((p) => (p.id === 'basic' ? { ...p, price: { monthly: '12.00' } } : p))));
  await hangUp('catalog reloaded');
  expect(await current()).toMatchObject({ basic: '12.00', ids: ['free', 'basic', 'pro', 'enterprise'] });
  // A subscription keeps deciding with its own copy until a renewal hands it the edited one.
  expect(await basicPrice(first.id)).toEqual({ basic: '10.00', ids: ['free', 'basic', 'pro', 'enterprise'] });

  // Pro is in use: a catalog without it is refused, whole.
  writeFileSync(catalogFile, withPlans((plans) => plans.filter((p) => p.id !== 'pro').map((p) => (p.id === 'basic' ? { ...p, price: { monthly: '15.00' } } : p))));
  await hangUp('catalog reload refused');
  expect(output).toMatch(/plan \\"pro\\" is in use but the catalog has no such plan/);
  expect(await current()).toMatchObject({ basic: '12.00', ids: ['free', 'basic', 'pro', 'enterprise'] });

  writeFileSync(catalogFile, '{ "currency": "USD", ');
  await hangUp('catalog reload refused');
  expect(await current()).toMatchObject({ basic: '12.00', ids: ['free', 'basic', 'pro', 'enterprise'] });
  expect(api!.exitCode).toBeNull();
});
