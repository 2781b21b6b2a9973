/**
 * The audit log (issue 12): each state-changing request with who, what and how it ended, readable
 * per customer; requests that change nothing leave no entry; no secret is ever in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;
const suffix = Date.now().toString(36);
const customerA = `audit-a-${suffix}`;
const customerB = `audit-b-${suffix}`;

interface Entry { id: string; actor: string; method: string; route: string; path: string; customerId: string | null; status: number | null; errorCode: string | null; completedAt: string | null }

async function entries(query = ''): Promise<{ data: Entry[]; nextBefore: string | null }> {
  const answer = await api.request('GET', `/v1/audit-log${query}`);
  expect(answer.status).toBe(200);
  return answer.body as { data: Entry[]; nextBefore: string | null };
}

beforeAll(async () => {
  api = await startApiHarness();
  for (const id of [customerA, customerB]) {
    expect((await api.request('POST', '/v1/customers', { body: { id, name: 'Audit Co', email: `billing@${id}.test`, plan: 'pro' } })).status).toBe(201);
  }
});
afterAll(async () => {
  await api?.close();
});

describe('the audit log', () => {
  it('records who created a customer, and how it ended', async () => {
    const { data } = await entries(`?customerId=${customerA}`);
    expect(data).toEqual([expect.objectContaining({ actor: 'key:operator', method: 'POST', route: '/v1/customers', path: '/v1/customers', customerId: customerA, status: 201, errorCode: null })]);
    expect(data[0]!.completedAt).not.toBeNull();
  });

  it('names a customer session and a named key as the actor, per customer', async () => {
    const session = (await api.request('POST', `/v1/customers/${customerA}/sessions`, { body: {} })).body as { id: string; token: string };
    expect((await api.request('PUT', `/v1/customers/${customerA}/alert-channels`, { auth: session.token, body: { email: { to: ['ops@a.test'] } } })).status).toBe(200);
    const created = (await api.request('POST', '/v1/api-keys', { body: { name: `auditor-${suffix}`, scopes: ['admin'] } })).body as { key: string };
    expect((await api.request('POST', `/v1/customers/${customerB}/subscription/cancel`, { auth: created.key })).status).toBe(200);

    const a = (await entries(`?customerId=${customerA}`)).data;
    expect(a.slice(0, 2)).toEqual([
      expect.objectContaining({ actor: `session:${session.id}`, method: 'PUT', route: '/v1/customers/{customerId}/alert-channels', status: 200 }),
      expect.objectContaining({ actor: 'key:operator', method: 'POST', route: '/v1/customers/{customerId}/sessions', status: 201 }),
    ]);
    const b = (await entries(`?customerId=${customerB}`)).data;
    expect(b[0]).toEqual(expect.objectContaining({ actor: `key:auditor-${suffix}`, route: '/v1/customers/{customerId}/subscription/cancel', status: 200 }));
    expect(b.every((entry) => entry.customerId === customerB)).toBe(true);
    // The key's creation has no customer; it is in the whole log. No secret is anywhere in it.
    const all = await entries('?limit=200');
    expect(all.data).toContainEqual(expect.objectContaining({ route: '/v1/api-keys', customerId: null, status: 201 }));
    const dump = JSON.stringify(await api.database.db.auditEntry.findMany({}), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(session.token);
  });

  it('leaves no entry for what changed nothing: bad input, refusals, unknown customers, replays', async () => {
    const before = (await entries('?limit=200')).data.length;
    expect((await api.request('POST', `/v1/customers/${customerA}/subscription/change`, { body: { plan: 'no-such-plan' } })).status).toBe(422);
    expect((await api.request('POST', `/v1/customers/${customerA}/subscription/change`, { body: { plan: 7 } })).status).toBe(400);
    expect((await api.request('PUT', '/v1/customers/nobody-here/alert-channels', { body: { email: { to: ['x@y.test'] } } })).status).toBe(404);
    expect((await api.request('POST', `/v1/customers/${customerA}/subscription/reactivate`, { auth: null })).status).toBe(401);
    const other = (await api.request('POST', `/v1/customers/${customerB}/sessions`, { body: {} })).body as { token: string };
    expect((await api.request('POST', `/v1/customers/${customerA}/subscription/cancel`, { auth: other.token })).status).toBe(403);
    // Cancelling B again: refused by the workflow (409), nothing changed.
    const again = await api.request('POST', `/v1/customers/${customerB}/subscription/cancel`);
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect(again.status).toBeLessThan(500);
    const key = `audit-replay-${suffix}`;
    expect((await api.request('POST', `/v1/customers/${customerA}/subscription/cancel`, { headers: { 'idempotency-key': key } })).status).toBe(200);
    const replay = await api.request('POST', `/v1/customers/${customerA}/subscription/cancel`, { headers: { 'idempotency-key': key } });
    expect(replay.status).toBe(200);
    const after = (await entries('?limit=200')).data;
    // Only the session for B and the first cancel of A were added.
    expect(after.length - before).toBe(2);
    expect(after.slice(0, 2).map((e) => e.route)).toEqual(['/v1/customers/{customerId}/subscription/cancel', '/v1/customers/{customerId}/sessions']);
  });

  it('is written before the request runs: one still running (its worker down) is on record, outcome unknown', async () => {
    const customerC = `audit-c-${suffix}`;
    expect((await api.request('POST', '/v1/customers', { body: { id: customerC, name: 'Audit Co', email: `billing@${customerC}.test`, plan: 'pro' } })).status).toBe(201);
    await api.stopWorker();
    const running = api.request('POST', `/v1/customers/${customerC}/subscription/change`, { body: { plan: 'basic' } });
    try {
      const pending = await eventually(async () => (await entries(`?customerId=${customerC}`)).data.find((e) => e.route === '/v1/customers/{customerId}/subscription/change'));
      expect(pending).toMatchObject({ status: null, completedAt: null, actor: 'key:operator' });
    } finally {
      await api.startWorker();
    }
    expect((await running).status).toBe(200);
    const done = (await entries(`?customerId=${customerC}`)).data.find((e) => e.route === '/v1/customers/{customerId}/subscription/change');
    expect(done).toMatchObject({ status: 200 });
    expect(done!.completedAt).not.toBeNull();
  });

  it('pages newest first with before = nextBefore', async () => {
    const first = await entries('?limit=2');
    expect(first.data).toHaveLength(2);
    expect(first.nextBefore).toBe(first.data[1]!.id);
    const second = await entries(`?limit=2&before=${first.nextBefore}`);
    expect(BigInt(second.data[0]!.id)).toBeLessThan(BigInt(first.data[1]!.id));
    for (const bad of ['?limit=0', '?limit=201', '?before=abc', '?customerId=%20', '?zzz=1']) {
      expect((await api.request('GET', `/v1/audit-log${bad}`)).status).toBe(400);
    }
  });

  it('is closed to customer sessions and usage keys', async () => {
    const session = (await api.request('POST', `/v1/customers/${customerA}/sessions`, { body: {} })).body as { token: string };
    expect((await api.request('GET', `/v1/audit-log?customerId=${customerA}`, { auth: session.token })).status).toBe(403);
    const usage = (await api.request('POST', '/v1/api-keys', { body: { name: `audit-usage-${suffix}`, scopes: ['usage:write'] } })).body as { key: string };
    expect((await api.request('GET', '/v1/audit-log', { auth: usage.key })).status).toBe(403);
  });
});
