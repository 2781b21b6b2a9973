/**
 * The access matrix (issue 12): every route of GET /openapi.json (read at run time, so a new route
 * is covered, and fails here until this file says who may call it) × every kind of credential →
 * the expected answer, and nothing written by a refusal. The expectations are this file's own
 * (from the list of what a browser may do), not the server's table, so the two check each
 * other. Also: keys and sessions through their routes (secrets shown once, revocation, logout,
 * last use), Idempotency-Key refused where the answer holds a secret, and CORS for the configured
 * origins only.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CredentialResolver } from '../../api/access/credentialResolver.js';
import type { Db } from '../../store/db.js';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { snapshotTables } from '../harness/databaseSnapshot.js';
import { eventually } from '../harness/eventually.js';

const CORS_ORIGIN = 'https://app.acme.test';

/** What a customer session may call (issue 12, "Customer sessions"), on its own customer's path. */
const SESSION_ROUTES = new Set([
  'GET /v1/customers/{customerId}',
  'GET /v1/customers/{customerId}/subscription',
  'POST /v1/customers/{customerId}/subscription/cancel',
  'POST /v1/customers/{customerId}/subscription/reactivate',
  'POST /v1/customers/{customerId}/subscription/change',
  'GET /v1/customers/{customerId}/subscription/change-preview',
  'GET /v1/customers/{customerId}/plans',
  'GET /v1/customers/{customerId}/alert-channels',
  'PUT /v1/customers/{customerId}/alert-channels',
  'GET /v1/customers/{customerId}/alerts',
  'GET /v1/customers/{customerId}/overage',
  'GET /v1/customers/{customerId}/credits',
  'GET /v1/customers/{customerId}/credits/transactions',
  'POST /v1/customers/{customerId}/credits/purchases',
  'PUT /v1/customers/{customerId}/credits/auto-recharge',
  'GET /v1/customers/{customerId}/invoices',
  'GET /v1/customers/{customerId}/invoices/{number}',
  'GET /v1/customers/{customerId}/invoices/{number}.pdf',
  'POST /v1/customers/{customerId}/payment-method/checkout',
  'POST /v1/customers/{customerId}/billing-portal',
  'DELETE /v1/customers/{customerId}/sessions/{sessionId}',
  'POST /v1/customers/{customerId}/sessions/rotate',
]);
/** Operator actions: a server key only (creating customers, usage, grants, refunds, settling invoices, keys, sessions). */
const OPERATOR_ROUTES = new Set([
  'POST /v1/customers',
  'POST /v1/customers/import',
  'POST /v1/usage/events',
  'POST /v1/usage/events/batch',
  'GET /v1/usage/check',
  'POST /v1/customers/{customerId}/credits/purchases/{purchaseId}/refund',
  'POST /v1/customers/{customerId}/credits/grants',
  'POST /v1/customers/{customerId}/invoices/{number}/mark-paid',
  'POST /v1/customers/{customerId}/invoices/{number}/void',
  'GET /v1/api-keys',
  'POST /v1/api-keys',
  'DELETE /v1/api-keys/{keyId}',
  'POST /v1/customers/{customerId}/sessions',
  'GET /v1/audit-log',
  'POST /v1/webhook-endpoints',
  'GET /v1/webhook-endpoints',
  'GET /v1/webhook-endpoints/{endpointId}',
  'DELETE /v1/webhook-endpoints/{endpointId}',
  'POST /v1/webhook-endpoints/{endpointId}/rotate-secret',
  'GET /v1/webhook-endpoints/{endpointId}/deliveries',
  'POST /v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver',
  'GET /v1/test-clocks',
  'POST /v1/test-clocks',
  'GET /v1/test-clocks/{clockId}',
  'DELETE /v1/test-clocks/{clockId}',
  'POST /v1/test-clocks/{clockId}/advance',
]);
const USAGE_WRITE_ROUTES = new Set(['POST /v1/usage/events', 'POST /v1/usage/events/batch', 'GET /v1/usage/check']);
/** `read` opens every GET under /v1 but the key listing. */
const opensForRead = (route: string) => route.startsWith('GET /v1/') && route !== 'GET /v1/api-keys';

type Credential = 'none' | 'session, same customer' | 'session, other customer' | 'read key' | 'usage:write key' | 'admin key' | 'revoked key' | 'expired session';
const CREDENTIALS: Credential[] = ['none', 'session, same customer', 'session, other customer', 'read key', 'usage:write key', 'admin key', 'revoked key', 'expired session'];

/** 'open': anything but 401/403 (the route ran: 200, 400 for the empty body, 404…); else the exact refusal. */
function expected(route: string, credential: Credential): 'open' | 401 | 403 {
  switch (credential) {
    case 'none':
    case 'revoked key':
    case 'expired session':
      return 401;
    case 'admin key':
      return 'open';
    case 'read key':
      return opensForRead(route) ? 'open' : 403;
    case 'usage:write key':
      return USAGE_WRITE_ROUTES.has(route) ? 'open' : 403;
    case 'session, same customer':
      return SESSION_ROUTES.has(route) ? 'open' : 403;
    case 'session, other customer':
      return 403;
  }
}

let api: ApiHarness;
const customerA = `access-a-${Date.now().toString(36)}`;
const customerB = `access-b-${Date.now().toString(36)}`;
const secrets = {} as Record<Exclude<Credential, 'none'>, string>;
let document: { paths: Record<string, Record<string, { security?: unknown[] }>> };

async function createKey(name: string, scopes: string[]): Promise<{ id: string; key: string }> {
  const created = await api.request('POST', '/v1/api-keys', { body: { name, scopes } });
  expect(created.status).toBe(201);
  return created.body as { id: string; key: string };
}

async function createSession(customerId: string, auth?: string): Promise<{ id: string; token: string; expiresAt: string }> {
  const created = await api.request('POST', `/v1/customers/${customerId}/sessions`, { body: {}, ...(auth ? { auth } : {}) });
  expect(created.status).toBe(201);
  return created.body as { id: string; token: string; expiresAt: string };
}

beforeAll(async () => {
  api = await startApiHarness({ corsOrigins: [CORS_ORIGIN] });
  for (const id of [customerA, customerB]) {
    const created = await api.request('POST', '/v1/customers', { body: { id, name: `${id} Co`, email: `billing@${id}.test`, plan: 'pro' } });
    expect(created.status).toBe(201);
  }
  document = (await api.request('GET', '/openapi.json', { auth: null })).body as typeof document;
  secrets['read key'] = (await createKey('matrix-read', ['read'])).key;
  secrets['usage:write key'] = (await createKey('matrix-usage', ['usage:write'])).key;
  secrets['admin key'] = (await createKey('matrix-admin', ['admin'])).key;
  const revoked = await createKey('matrix-revoked', ['admin']);
  expect((await api.request('DELETE', `/v1/api-keys/${revoked.id}`)).status).toBe(200);
  secrets['revoked key'] = revoked.key;
  secrets['session, same customer'] = (await createSession(customerA)).token;
  secrets['session, other customer'] = (await createSession(customerB)).token;
  const expired = await createSession(customerA);
  // Never used, so no process holds it: its stored expiry is what the check reads.
  await api.database.db.customerSession.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1_000) } });
  secrets['expired session'] = expired.token;
  // The workflow writes the first invoice and its read model: wait, so refusals are judged on a still database.
  await eventually(async () => (await api.database.db.invoice.count({ where: { customerId: { in: [customerA, customerB] } } })) === 2);
});
afterAll(async () => {
  await api?.close();
});

function guardedRoutes(): Array<{ route: string; method: string; path: string }> {
  const routes: Array<{ route: string; method: string; path: string }> = [];
  for (const [template, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'patch'].includes(method)) continue;
      if (Array.isArray(operation.security) && operation.security.length === 0) continue;
      const path = template.replace('{customerId}', customerA).replace('{number}', 'INV-000001').replace('{purchaseId}', 'purchase-1')
        .replace('{keyId}', randomUUID()).replace('{sessionId}', randomUUID()).replace('{endpointId}', randomUUID()).replace('{deliveryId}', randomUUID())
        .replace('{clockId}', `clock_${'0'.repeat(32)}`);
      routes.push({ route: `${method.toUpperCase()} ${template}`, method: method.toUpperCase(), path });
    }
  }
  return routes;
}

/** One request; the body is parsed only when it is JSON (an invoice's PDF is not). */
async function call(method: string, path: string, credential: Credential): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = credential === 'none' ? {} : { authorization: `Bearer ${secrets[credential]}` };
  const sendsBody = method !== 'GET' && method !== 'DELETE';
  if (sendsBody) headers['content-type'] = 'application/json';
  const response = await fetch(`${api.baseUrl}${path}`, { method, headers, ...(sendsBody ? { body: '{}' } : {}) });
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') && text ? JSON.parse(text) : text };
}

describe('the access matrix over every route of /openapi.json', () => {
  it('classifies every guarded route (a new one must be added here)', () => {
    const unclassified = guardedRoutes().map((r) => r.route).filter((route) => !SESSION_ROUTES.has(route) && !OPERATOR_ROUTES.has(route));
    expect(unclassified).toEqual([]);
    expect(guardedRoutes().length).toBe(SESSION_ROUTES.size + OPERATOR_ROUTES.size);
  });

  it('refuses with 401/403 and its code, and a refusal writes nothing', async () => {
    const before = await snapshotTables(api.database.db);
    const wrong: string[] = [];
    let refusals = 0;
    for (const { route, method, path } of guardedRoutes()) {
      for (const credential of CREDENTIALS) {
        const want = expected(route, credential);
        if (want === 'open') continue;
        refusals += 1;
        const answer = await call(method, path, credential);
        const code = (answer.body as { error?: { code?: string } } | undefined)?.error?.code;
        const wantCode = want === 401 ? 'unauthorized' : 'forbidden';
        if (answer.status !== want || code !== wantCode) wrong.push(`${route} with ${credential}: ${answer.status} ${code}, expected ${want} ${wantCode}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(refusals).toBeGreaterThan(150);
    expect(await snapshotTables(api.database.db)).toEqual(before);
  });

  it('lets each credential through where it is allowed', async () => {
    const wrong: string[] = [];
    for (const { route, method, path } of guardedRoutes()) {
      for (const credential of CREDENTIALS) {
        if (expected(route, credential) !== 'open') continue;
        const answer = await call(method, path, credential);
        if (answer.status === 401 || answer.status === 403) wrong.push(`${route} with ${credential}: ${answer.status} ${JSON.stringify(answer.body)}`);
        // A session that rotated itself goes on with its new token (the old one is dead by design).
        if (route === 'POST /v1/customers/{customerId}/sessions/rotate' && answer.status === 201 && credential !== 'none') secrets[credential] = (answer.body as { token: string }).token;
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers the public routes without a credential', async () => {
    expect((await api.request('GET', '/health', { auth: null })).status).toBe(200);
    expect((await api.request('GET', '/openapi.json', { auth: null })).status).toBe(200);
  });

  it('publishes each rule in the document as x-tollgate-access, matching this matrix', () => {
    for (const { route, method } of guardedRoutes()) {
      const template = route.slice(method.length + 1);
      const access = (document.paths[template]![method.toLowerCase()] as { 'x-tollgate-access'?: { scopes: string[]; customerSession: boolean } })['x-tollgate-access'];
      expect(access, route).toEqual({
        scopes: ['admin', ...(opensForRead(route) ? ['read'] : []), ...(USAGE_WRITE_ROUTES.has(route) ? ['usage:write'] : [])],
        customerSession: SESSION_ROUTES.has(route),
      });
    }
  });
});

describe('keys and sessions', () => {
  it('shows a key\'s secret once, lists keys without secrets, with their last use', async () => {
    const { id, key } = await createKey('listing-check', ['read']);
    expect(key).toMatch(/^tg_sk_[A-Za-z0-9_-]{43}$/);
    expect((await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: key })).status).toBe(200);
    const listed = await eventually(async () => {
      const answer = await api.request('GET', '/v1/api-keys');
      const found = (answer.body.data as Array<Record<string, unknown>>).find((k) => k.id === id);
      return found?.lastUsedAt ? { answer, found } : undefined;
    });
    expect(JSON.stringify(listed.answer.body)).not.toContain(key);
    expect(listed.found).toMatchObject({ name: 'listing-check', scopes: ['read'], prefix: key.slice(0, 12), revokedAt: null });
    const stored = await api.database.db.apiKey.findUniqueOrThrow({ where: { id } });
    expect(Buffer.from(stored.secretHash).toString('hex')).not.toContain(Buffer.from(key).toString('hex'));
  });

  it('refuses a second key of the same name, and bad scopes', async () => {
    await createKey('twice', ['read']);
    const again = await api.request('POST', '/v1/api-keys', { body: { name: 'twice', scopes: ['admin'] } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('api_key_name_taken');
    for (const scopes of [[], ['root'], ['read', 'read']]) {
      const bad = await api.request('POST', '/v1/api-keys', { body: { name: `bad-${scopes.length}`, scopes } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('validation_failed');
    }
  });

  it('a revoked key and a revoked session are refused from the next request on', async () => {
    const { id, key } = await createKey('revoke-me', ['read']);
    expect((await api.request('GET', `/v1/customers/${customerA}/invoices`, { auth: key })).status).toBe(200);
    const revoked = await api.request('DELETE', `/v1/api-keys/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await api.request('GET', `/v1/customers/${customerA}/invoices`, { auth: key })).status).toBe(401);
    // Revoking again answers the first revocation.
    expect((await api.request('DELETE', `/v1/api-keys/${id}`)).body.revokedAt).toBe(revoked.body.revokedAt);

    const session = await createSession(customerA);
    expect((await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: session.token })).status).toBe(200);
    expect((await api.request('DELETE', `/v1/customers/${customerA}/sessions/${session.id}`)).status).toBe(200);
    expect((await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: session.token })).status).toBe(401);
  });

  it('a session logs itself out, and cannot end another customer\'s session', async () => {
    const mine = await createSession(customerA);
    const theirs = await createSession(customerB);
    const across = await api.request('DELETE', `/v1/customers/${customerB}/sessions/${theirs.id}`, { auth: mine.token });
    expect(across.status).toBe(403);
    // Another customer's session id under my own path: not found, and theirs still works.
    expect((await api.request('DELETE', `/v1/customers/${customerA}/sessions/${theirs.id}`, { auth: mine.token })).status).toBe(404);
    expect((await api.request('GET', `/v1/customers/${customerB}/subscription`, { auth: theirs.token })).status).toBe(200);
    expect((await api.request('DELETE', `/v1/customers/${customerA}/sessions/${mine.id}`, { auth: mine.token })).status).toBe(200);
    expect((await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: mine.token })).status).toBe(401);
  });

  it('a session lasts ttlSeconds (default one hour), within bounds', async () => {
    const started = Date.now();
    const byDefault = await createSession(customerA);
    expect(Date.parse(byDefault.expiresAt) - started).toBeGreaterThan(3_590_000);
    expect(Date.parse(byDefault.expiresAt) - started).toBeLessThan(3_610_000);
    const short = await api.request('POST', `/v1/customers/${customerA}/sessions`, { body: { ttlSeconds: 120 } });
    expect(Date.parse(short.body.expiresAt) - Date.parse(short.body.createdAt)).toBe(120_000);
    for (const ttlSeconds of [59, 86_401, 1.5, '600']) {
      const bad = await api.request('POST', `/v1/customers/${customerA}/sessions`, { body: { ttlSeconds } });
      expect(bad.status).toBe(400);
    }
    expect((await api.request('POST', '/v1/customers/nobody-here/sessions', { body: {} })).status).toBe(404);
  });

  it('refuses an Idempotency-Key where the answer holds a secret, and stores nothing', async () => {
    const before = await snapshotTables(api.database.db);
    for (const [path, body] of [['/v1/api-keys', { name: 'with-idem', scopes: ['read'] }], [`/v1/customers/${customerA}/sessions`, {}]] as const) {
      const answer = await api.request('POST', path, { body, headers: { 'idempotency-key': `k-${randomUUID()}` } });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('idempotency_key_not_supported');
    }
    expect(await snapshotTables(api.database.db)).toEqual(before);
  });

  it('a malformed Authorization header is a 401, a token of the right shape but unknown too', async () => {
    for (const authorization of ['Basic abc', 'Bearer', 'Bearer a b', `Bearer tg_sk_${'x'.repeat(43)}`, `Bearer tg_cs_${'x'.repeat(43)}`]) {
      const answer = await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: null, headers: { authorization } });
      expect(answer.status, authorization).toBe(401);
      expect(answer.body.error.code).toBe('unauthorized');
    }
  });
});

describe('hostile paths and keys', () => {
  it('a session is matched on the decoded customer id, as the routes decode it', async () => {
    const session = await createSession(customerA);
    const encoded = `/v1/customers/${encodeURIComponent(customerA).replace(/^a/, '%61')}/subscription`;
    expect(encoded).toContain('%61');
    expect((await api.request('GET', encoded, { auth: session.token })).status).toBe(200);
    const other = await createSession(customerB);
    expect((await api.request('GET', encoded, { auth: other.token })).status).toBe(403);
    const broken = await api.request('GET', '/v1/customers/%E0%A4%A/subscription', { auth: session.token });
    expect([broken.status, broken.body.error.code]).toEqual([400, 'invalid_path']);
  });

  it('HEAD follows GET\'s rule', async () => {
    const session = await createSession(customerA);
    const head = (customerId: string) => fetch(`${api.baseUrl}/v1/customers/${customerId}/subscription`, { method: 'HEAD', headers: { authorization: `Bearer ${session.token}` } });
    expect((await head(customerA)).status).toBe(200);
    expect((await head(customerB)).status).toBe(403);
  });

  it('a path no route has is a 404 for a valid credential, a 401 without one', async () => {
    const session = await createSession(customerA);
    expect((await api.request('GET', `/v1/customers/${customerA}/nothing-here`, { auth: session.token })).status).toBe(404);
    expect((await api.request('GET', `/v1/customers/${customerA}/nothing-here`, { auth: null })).status).toBe(401);
    expect((await api.request('POST', '/v1/nothing-here', { body: {} })).status).toBe(404);
  });

  it('Idempotency-Keys are the caller\'s own: a session cannot replay or block the operator\'s', async () => {
    const key = `shared-${randomUUID()}`;
    const path = `/v1/customers/${customerA}/alert-channels`;
    const body = { email: { to: ['ops@a.test'] } };
    const byOperator = await api.request('PUT', path, { body, headers: { 'idempotency-key': key } });
    expect(byOperator.status).toBe(200);
    const session = await createSession(customerA);
    const bySession = await fetch(`${api.baseUrl}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ email: { to: ['me@a.test'] } }) });
    // Not 422 idempotency_key_reused and not the operator's answer replayed: its own request ran.
    expect(bySession.status).toBe(200);
    expect(bySession.headers.get('idempotent-replayed')).toBeNull();
    // And the operator's retry still replays the operator's answer.
    const retried = await fetch(`${api.baseUrl}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a revocation beats a lookup under way; one lookup serves a burst; made-up shapes are never looked up', async () => {
    let lookups = 0;
    const db = new Proxy(api.database.db, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'apiKey' && property !== 'customerSession') return value;
        const model = value as { findUnique: (...args: unknown[]) => Promise<unknown> };
        return { ...model, findUnique: (...args: unknown[]) => { lookups += 1; return model.findUnique(...args); }, update: (model as unknown as { update: (...args: unknown[]) => Promise<unknown> }).update.bind(model) };
      },
    }) as Db;
    const resolver = new CredentialResolver({ db, operatorKey: OPERATOR_KEY, logger: pino({ level: 'silent' }) });
    const { id, key } = await createKey(`race-${randomUUID().slice(0, 8)}`, ['read']);
    const underWay = resolver.resolve(key);
    expect(underWay).toBeInstanceOf(Promise);
    resolver.forget(id);
    expect(await underWay).toBeUndefined();
    expect(await resolver.resolve(key)).toBeUndefined();

    lookups = 0;
    const unknown = `tg_sk_${'A'.repeat(43)}`;
    expect(await Promise.all(Array.from({ length: 20 }, () => resolver.resolve(unknown)))).toEqual(Array(20).fill(undefined));
    expect(lookups).toBe(1);
    for (const madeUp of ['tg_sk_short', `tg_sk_${'A'.repeat(44)}`, `tg_xx_${'A'.repeat(43)}`, 'x'.repeat(5000)]) expect(resolver.resolve(madeUp)).toBeUndefined();
    expect(lookups).toBe(1);
  });

  it('no stored key may be named like the operator key', async () => {
    const answer = await api.request('POST', '/v1/api-keys', { body: { name: 'Operator', scopes: ['read'] } });
    expect([answer.status, answer.body.error.code]).toEqual([400, 'validation_failed']);
  });

  it('answers holding a secret are not cacheable, and a 401 names its scheme', async () => {
    const created = await fetch(`${api.baseUrl}/v1/customers/${customerA}/sessions`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_KEY}` } });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const refused = await fetch(`${api.baseUrl}/v1/customers/${customerA}/subscription`);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('npm run api-key (the first key, without the API)', () => {
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/apiKey.ts', ...args], { env: { ...process.env, DATABASE_URL: api.database.url } });

  it('creates a working key, lists it, and a revocation reaches the API within its cache time', async () => {
    const created = await run('create', 'cli-made', 'read');
    const secret = /^(tg_sk_\S+)$/m.exec(created.stdout)?.[1];
    expect(secret, created.stdout).toBeDefined();
    expect((await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: secret! })).status).toBe(200);
    expect((await api.request('POST', '/v1/customers', { auth: secret!, body: {} })).status).toBe(403);
    const listed = await run('list');
    expect(listed.stdout).toContain('cli-made\tread\t');
    expect(listed.stdout).not.toContain(secret!);
    await run('revoke', 'cli-made');
    // Another process revoked it: this API stops taking it once its cached lookup expires (5 s).
    await eventually(async () => (await api.request('GET', `/v1/customers/${customerA}/subscription`, { auth: secret! })).status === 401, 10_000);
  });

  it('refuses a bad scope and a taken name with a message', async () => {
    await expect(run('create', 'cli-bad', 'root')).rejects.toMatchObject({ stderr: expect.stringContaining('scopes') });
    await run('create', 'cli-twice', 'read');
    await expect(run('create', 'cli-twice', 'read')).rejects.toMatchObject({ stderr: expect.stringContaining('exists') });
  });
});

describe('CORS', () => {
  const preflight = (origin: string) => fetch(`${api.baseUrl}/v1/customers/${customerA}/subscription`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
  });

  it('answers a configured origin\'s preflight and requests', async () => {
    const answer = await preflight(CORS_ORIGIN);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(CORS_ORIGIN);
    expect(answer.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const session = await createSession(customerA);
    const read = await fetch(`${api.baseUrl}/v1/customers/${customerA}/subscription`, { headers: { origin: CORS_ORIGIN, authorization: `Bearer ${session.token}` } });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe(CORS_ORIGIN);
  });

  it('gives any other origin no CORS headers', async () => {
    const answer = await preflight('https://evil.test');
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(answer.status).toBe(405);
    const read = await fetch(`${api.baseUrl}/v1/customers/${customerA}/subscription`, { headers: { origin: 'https://evil.test', authorization: `Bearer ${secrets['session, same customer']}` } });
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
  });
});
