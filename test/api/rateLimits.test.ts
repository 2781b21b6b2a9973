/**
 * Rate limits (issue 12): a burst past a caller's budget gets 429 `rate_limited` with
 * `Retry-After`, nothing of the refused requests is done, and the next window is served. Keys,
 * customer sessions and the usage routes each have their own budget; one caller's burst does not
 * spend another's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';

let api: ApiHarness;
const customerId = `limits-${Date.now().toString(36)}`;
const LIMITS = { keyPerSecond: 5, sessionPerSecond: 3, usagePerSecond: 8, lookupsPerSecond: 10 };

beforeAll(async () => {
  api = await startApiHarness({ rateLimits: LIMITS });
  expect((await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Limits Co', email: 'billing@limits.test', plan: 'pro' } })).status).toBe(201);
});
afterAll(async () => {
  await api?.close();
});

/** Waits for the start of a fresh one-second window, so a burst falls inside one. */
async function freshWindow(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1_100));
}

async function burst<T>(count: number, send: () => Promise<T>) {
  return Promise.all(Array.from({ length: count }, send));
}

const get = (path: string, auth: string) => async () => {
  const response = await fetch(`${api.baseUrl}${path}`, { headers: { authorization: `Bearer ${auth}` } });
  return { status: response.status, body: (await response.json()) as { error: { code: string; message: string; details: { retryAfterSeconds: number } } }, retryAfter: response.headers.get('retry-after') };
};

describe('rate limits', () => {
  it('a key past its budget gets 429 with Retry-After, and the next window is served', async () => {
    const key = (await api.request('POST', '/v1/api-keys', { body: { name: 'burst-key', scopes: ['read'] } })).body.key as string;
    await freshWindow();
    const answers = await burst(12, get(`/v1/customers/${customerId}/subscription`, key));
    const refused = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(LIMITS.keyPerSecond * 2);
    expect(refused.length).toBeGreaterThanOrEqual(12 - LIMITS.keyPerSecond * 2);
    for (const answer of refused) {
      expect(answer.body.error.code).toBe('rate_limited');
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.body.error.details.retryAfterSeconds).toBe(Number(answer.retryAfter));
    }
    await new Promise((resolve) => setTimeout(resolve, Number(refused[0]!.retryAfter) * 1000 + 50));
    expect((await get(`/v1/customers/${customerId}/subscription`, key)()).status).toBe(200);
  });

  it('a refused write is not done', async () => {
    const key = (await api.request('POST', '/v1/api-keys', { body: { name: 'burst-writer', scopes: ['admin'] } })).body.key as string;
    await freshWindow();
    const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const response = await fetch(`${api.baseUrl}/v1/customers`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: `${customerId}-w${i}`, name: 'W', email: `w${i}@limits.test`, plan: 'free' }) });
      return { i, status: response.status };
    }));
    const created = answers.filter((a) => a.status === 201).map((a) => `${customerId}-w${a.i}`).sort();
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0);
    const stored = (await api.database.db.customer.findMany({ where: { id: { startsWith: `${customerId}-w` } }, select: { id: true } })).map((c) => c.id).sort();
    expect(stored).toEqual(created);
  });

  it('a customer session has its own budget, and a burst of one caller leaves another served', async () => {
    const session = (await api.request('POST', `/v1/customers/${customerId}/sessions`, { body: {} })).body.token as string;
    const other = (await api.request('POST', '/v1/api-keys', { body: { name: 'bystander', scopes: ['read'] } })).body.key as string;
    await freshWindow();
    const answers = await burst(10, get(`/v1/customers/${customerId}/invoices`, session));
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThanOrEqual(10 - LIMITS.sessionPerSecond * 2);
    expect(answers.find((a) => a.status === 429)!.body.error.message).toContain('session');
    expect((await get(`/v1/customers/${customerId}/invoices`, other)()).status).toBe(200);
  });

  it('a flood of made-up secrets from one address is refused before it reaches the database', async () => {
    await freshWindow();
    const madeUp = () => `tg_sk_${Array.from({ length: 43 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[Math.floor(Math.random() * 64)]).join('')}`;
    const flood = await Promise.all(Array.from({ length: 40 }, () => get(`/v1/customers/${customerId}/subscription`, madeUp())()));
    const statuses = flood.map((a) => a.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(40 - LIMITS.lookupsPerSecond * 2);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(flood.find((a) => a.status === 429)!.body.error.message).toContain('unknown keys or tokens');
    // The operator key (never looked up) is served meanwhile; a real key's first use waits for the next window.
    expect((await get(`/v1/customers/${customerId}/subscription`, OPERATOR_KEY)()).status).toBe(200);
  });

  it('the usage routes have their own budget', async () => {
    const key = (await api.request('POST', '/v1/api-keys', { body: { name: 'metering', scopes: ['usage:write'] } })).body.key as string;
    await freshWindow();
    const answers = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
      const response = await fetch(`${api.baseUrl}/v1/usage/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customerId, metric: 'api_calls', quantity: 1, idempotencyKey: `burst-${i}` }),
      });
      return { i, status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { error?: { code: string } } };
    }));
    const counted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(counted.length).toBeGreaterThanOrEqual(LIMITS.usagePerSecond);
    expect(counted.length).toBeLessThanOrEqual(LIMITS.usagePerSecond * 2);
    expect(refused.length).toBe(24 - counted.length);
    expect(refused[0]!.body.error?.code).toBe('rate_limited');
    expect(Number(refused[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
    // What was refused was not recorded: the stored events are exactly the counted ones.
    const stored = (await api.database.db.usageEvent.findMany({ where: { customerId }, select: { idempotencyKey: true } })).map((e) => e.idempotencyKey).sort();
    expect(stored).toEqual(counted.map((a) => `burst-${a.i}`).sort());
  });
});
