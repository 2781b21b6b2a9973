/**
 * Hostile input over every route and method listed by GET /openapi.json (read at run time, so a
 * new route is covered without touching this file): each case must be a 4xx with the expected
 * stable code in the one error shape, and no table of the database may change.
 */
import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { OPERATOR_KEY, startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { snapshotTables } from '../harness/databaseSnapshot.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; enum?: string[] };
}
interface Operation {
  requestBody?: unknown;
  parameters?: Parameter[];
}
interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
}

const DOCUMENT_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];
const PROBED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

let api: ApiHarness;
let customerId: string;
let invoiceNumber: string;
let document: OpenApiDocument;

interface Answer {
  status: number;
  allow: string | null;
  body: unknown;
}

async function send(method: string, path: string, options: { headers?: Record<string, string>; body?: string | Uint8Array } = {}): Promise<Answer> {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${OPERATOR_KEY}`, ...options.headers },
    body: options.body,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // kept as text: the shape check reports it
  }
  return { status: response.status, allow: response.headers.get('allow'), body };
}

/** Why the body is not `{"error":{"code","message","details"?}}`, or undefined when it is. */
function shapeProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return `not an object: ${JSON.stringify(body)?.slice(0, 200)}`;
  if (Object.keys(body).join() !== 'error') return `top-level keys ${Object.keys(body).join()}`;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return 'error is not an object';
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') return 'code or message is not a string';
  const extra = Object.keys(error).filter((k) => !['code', 'message', 'details'].includes(k));
  return extra.length ? `unexpected keys ${extra.join()}` : undefined;
}

interface Case {
  what: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  status: number;
  codes: readonly string[];
  /** For field-level refusals: the path `details.issues` must name. */
  issuePath?: string;
  /** For 405s: the methods `Allow` must list. */
  allow?: readonly string[];
}

/** A valid request per operation (never sent as is): each case breaks one thing of it. */
function validRequests(id: string): Record<string, { body?: Json; query?: Record<string, string> }> {
  const event = { customerId: id, metric: 'api_calls', quantity: 1, idempotencyKey: 'bad-input-key', timestamp: new Date().toISOString() };
  return {
    'POST /v1/customers': {
      body: { id: 'bad-input-new', name: 'New Co', email: 'billing@new.test', plan: 'pro', interval: 'monthly', periodStart: new Date(Date.now() - DAY_MS).toISOString() },
    },
    'POST /v1/customers/import': {
      body: { customers: [{ id: 'bad-input-imported', name: 'Imported Co', email: 'billing@imported.test', plan: 'pro', periodStart: new Date(Date.now() - DAY_MS).toISOString(), usage: { api_calls: 12 } }] },
    },
    'POST /v1/customers/{customerId}/subscription/change': { body: { plan: 'basic', interval: 'yearly', seats: 1 } },
    'GET /v1/customers/{customerId}/subscription/change-preview': { query: { plan: 'basic', interval: 'monthly', seats: '1' } },
    'GET /v1/customers/{customerId}/invoices': { query: { limit: '5' } },
    'POST /v1/customers/{customerId}/invoices/{number}/mark-paid': { body: { reference: 'wire 4471' } },
    'POST /v1/customers/{customerId}/invoices/{number}/void': { body: {} },
    'PUT /v1/customers/{customerId}/alert-channels': {
      body: {
        email: { to: ['ops@acme.test'] },
        slack: { webhookUrl: 'https://hooks.slack.com/services/T000/B000/XXXXXXXX' },
        discord: { webhookUrl: 'https://discord.com/api/webhooks/1/abcdef' },
        telegram: { botToken: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ', chatId: '-100123' },
      },
    },
    'POST /v1/usage/events': { body: event },
    'POST /v1/usage/events/batch': { body: { events: [event] } },
    'GET /v1/usage/check': { query: { customerId: id, metric: 'api_calls', quantity: '1' } },
    'GET /v1/customers/{customerId}/credits/transactions': { query: { limit: '5' } },
    'POST /v1/customers/{customerId}/credits/purchases': { body: { packId: 'standard', checkout: { successUrl: 'https://app.acme.test/ok', cancelUrl: 'https://app.acme.test/no' } } },
    'POST /v1/customers/{customerId}/credits/purchases/{purchaseId}/refund': { body: { reason: 'asked' } },
    'POST /v1/customers/{customerId}/credits/grants': { body: { credits: '1000', type: 'promotional', reason: 'gift' } },
    'PUT /v1/customers/{customerId}/credits/auto-recharge': { body: { enabled: false, packId: 'standard', threshold: '500000', spendingLimit: '50.00' } },
    'POST /v1/api-keys': { body: { name: 'bad-input-key', scopes: ['read'] } },
    'POST /v1/customers/{customerId}/sessions': { body: { ttlSeconds: 600 } },
    'POST /v1/webhook-endpoints': { body: { url: 'https://hooks.acme.test/tollgate', eventTypes: ['invoice.created'], description: 'billing events' } },
    'POST /v1/webhook-endpoints/{endpointId}/rotate-secret': { body: { previousValidSeconds: 60 } },
    'POST /v1/test-clocks': { body: { frozenTime: '2027-01-01T00:00:00.000Z', name: 'bad input clock' } },
    'POST /v1/test-clocks/{clockId}/advance': { body: { frozenTime: '2027-01-02T00:00:00.000Z' } },
  };
}

function leaves(value: Json, path: Array<string | number> = []): Array<{ path: Array<string | number>; value: Json }> {
  if (Array.isArray(value)) return value.flatMap((child, i) => leaves(child, [...path, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key]));
  return [{ path, value }];
}

function withLeaf(root: Json, path: Array<string | number>, replacement: Json): Json {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[path[path.length - 1]!] = replacement;
  return copy;
}

const json = (text: string | Uint8Array, headers: Record<string, string> = {}) => ({ headers: { 'content-type': 'application/json', ...headers }, body: text });
const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const HUGE_BODY = `{"a":"${'a'.repeat(3_000_000)}"}`;

/** What every body is checked for, whether or not the route takes one. */
const BODY_CASES: Array<[string, { headers: Record<string, string>; body: string | Uint8Array }, number, string]> = [
  ['malformed JSON', json('{"a":'), 400, 'invalid_json'],
  ['a body that is not JSON', { headers: { 'content-type': 'text/plain' }, body: '{}' }, 400, 'invalid_json'],
  ['a charset other than UTF-8', json('{}', { 'content-type': 'application/json; charset=latin1' }), 415, 'unsupported_media_type'],
  ['an invalid UTF-8 byte', json(bytes('{"a":"', [0xff], '"}')), 400, 'invalid_utf8'],
  ['an overlong UTF-8 encoding', json(bytes('{"a":"', [0xc0, 0xaf], '"}')), 400, 'invalid_utf8'],
  ['a truncated UTF-8 sequence', json(bytes('{"a":"', [0xe0, 0xa4], '"}')), 400, 'invalid_utf8'],
  ['an encoded surrogate', json(bytes('{"a":"', [0xed, 0xa0, 0x80], '"}')), 400, 'invalid_utf8'],
  ['a lone surrogate escape', json('{"a":"\\ud800"}'), 400, 'validation_failed'],
  ['a lone surrogate escape in a key', json('{"\\udc00":1}'), 400, 'validation_failed'],
  ['a NUL escape', json('{"a":["x\\u0000y"]}'), 400, 'validation_failed'],
  ['a NUL escape in a key', json('{"\\u0000":1}'), 400, 'validation_failed'],
  ['arrays nested 100,000 deep', json(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 400, 'invalid_json'],
  ['objects nested 100,000 deep', json(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), 400, 'invalid_json'],
  ['gzip that is not gzip', json('{"a":1}', { 'content-encoding': 'gzip' }), 400, 'invalid_content_encoding'],
  ['br that is not br', json('{"a":1}', { 'content-encoding': 'br' }), 400, 'invalid_content_encoding'],
  ['deflate that is not deflate', json('{"a":1}', { 'content-encoding': 'deflate' }), 400, 'invalid_content_encoding'],
  ['truncated gzip', json(gzipSync('{"a":"some text"}').subarray(0, 20), { 'content-encoding': 'gzip' }), 400, 'invalid_content_encoding'],
  ['an unknown Content-Encoding', json('{"a":1}', { 'content-encoding': 'zstd' }), 415, 'unsupported_media_type'],
  ['stacked Content-Encodings', json('{"a":1}', { 'content-encoding': 'gzip, br' }), 415, 'unsupported_media_type'],
  ['a body over the size limit', json(HUGE_BODY), 413, 'payload_too_large'],
  ['a gzip bomb', json(gzipSync(HUGE_BODY), { 'content-encoding': 'gzip' }), 413, 'payload_too_large'],
  ['a brotli bomb', json(brotliCompressSync(HUGE_BODY), { 'content-encoding': 'br' }), 413, 'payload_too_large'],
];

/** Bodies refused by the route's own schema (sent only where the route takes a body). */
const SCHEMA_BODY_CASES: Array<[string, string]> = [
  ['a null body', 'null'],
  ['a string body', '"x"'],
  ['a number body', '42'],
  ['an array body', '[]'],
  ['a __proto__ key', '{"__proto__":{"admin":true}}'],
];

const BAD_PATH_IDS: Array<[string, string, string]> = [
  ['a lone "%"', '%', 'invalid_path'],
  ['a NUL (%00)', '%00', 'validation_failed'],
  ['broken percent-encoded UTF-8', '%E0%A4%A', 'invalid_path'],
  ['an invalid UTF-8 byte', '%FF', 'invalid_path'],
  ['a 10,000-character id', 'x'.repeat(10_000), 'validation_failed'],
];

const FRESH_KEY = 'fresh-key-per-case';

const BAD_QUERY_NUMBERS = ['0x10', '1e3', ' 1 ', '-1', '1.5', '', '+1', '99999999999999999999'];

function stringVariants(value: string): Array<[string, Json]> {
  return [
    ['a NUL', `${value}\u0000`],
    ['a lone surrogate', `${value}\ud800`],
    ['a huge string', 'a'.repeat(100_000)],
    ['true instead of a string', true],
    ['an object instead of a string', {}],
  ];
}
function booleanVariants(): Array<[string, Json]> {
  return [
    ['a string instead of a boolean', 'true'],
    ['a number instead of a boolean', 1],
    ['null instead of a boolean', null],
  ];
}

function numberVariants(): Array<[string, Json]> {
  return [
    ['a string instead of a number', '1'],
    ['true instead of a number', true],
    ['1e300', 1e300],
    ['-1', -1],
    ['0.5', 0.5],
  ];
}

/**
 * Stripe's webhook endpoint takes no API key and reads no JSON before checking Stripe's signature:
 * every bad input there is a 400 `invalid_signature` (test/api/stripePayments.test.ts).
 */
const OWN_TESTS = new Set(['/v1/stripe/webhooks']);
/** Their answers hold a secret: they refuse an Idempotency-Key (test/api/accessMatrix.test.ts checks that). */
const SECRET_ANSWERS = new Set(['POST /v1/api-keys', 'POST /v1/customers/{customerId}/sessions', 'POST /v1/customers/{customerId}/sessions/rotate', 'POST /v1/webhook-endpoints', 'POST /v1/webhook-endpoints/{endpointId}/rotate-secret']);
const SOME_UUID = '00000000-0000-4000-8000-000000000000';
const SOME_CLOCK = `clock_${'0'.repeat(32)}`;

function buildCases(doc: OpenApiDocument, id: string, number: string): Case[] {
  const valid = validRequests(id);
  const cases: Case[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    if (OWN_TESTS.has(template)) continue;
    const methods = DOCUMENT_METHODS.filter((m) => m in item).map((m) => m.toUpperCase());
    const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
    const concrete = template.replace('{customerId}', id).replace('{number}', number).replace('{purchaseId}', 'purchase-1').replace('{keyId}', SOME_UUID).replace('{sessionId}', SOME_UUID).replace('{endpointId}', SOME_UUID).replace('{deliveryId}', SOME_UUID).replace('{clockId}', SOME_CLOCK);
    for (const method of PROBED_METHODS.filter((m) => !allowed.includes(m))) {
      cases.push({ what: `${method} (not allowed)`, method, path: concrete, status: 405, codes: ['method_not_allowed'], allow: allowed });
    }
    for (const method of methods) {
      const operation = item[method.toLowerCase()] as Operation;
      const key = `${method} ${template}`;
      const request = valid[key] ?? {};
      const queryParams = (operation.parameters ?? []).filter((p) => p.in === 'query');
      if ((operation.requestBody || queryParams.some((p) => p.required)) && !valid[key]) throw new Error(`Add a valid request for ${key} to validRequests().`);
      const writes = method === 'POST' || method === 'PUT';
      // 400 answers are not kept by the idempotency layer, so a key must leave no trace either.
      const headers: Record<string, string> = writes && !template.startsWith('/v1/usage') && !SECRET_ANSWERS.has(key) ? { 'idempotency-key': FRESH_KEY } : {};
      const query = (values: Record<string, string>) => {
        const search = new URLSearchParams(values).toString();
        return search ? `?${search}` : '';
      };
      const validBody = request.body === undefined ? undefined : JSON.stringify(request.body);
      const jsonHeaders = { ...headers, ...(validBody ? { 'content-type': 'application/json' } : {}) };
      const at = (path: string) => `${path}${query(request.query ?? {})}`;
      const base = { method, path: at(concrete) };

      if (template.includes('{customerId}')) {
        for (const [what, bad, code] of BAD_PATH_IDS) {
          cases.push({ what: `customerId ${what}`, method, path: at(template.replace('{customerId}', bad).replace('{number}', number).replace('{purchaseId}', 'purchase-1').replace('{sessionId}', SOME_UUID)), headers: jsonHeaders, body: validBody, status: 400, codes: [code] });
        }
      }

      for (const parameter of queryParams) {
        const variants: Array<[string, string]> = parameter.schema?.type === 'integer'
          ? BAD_QUERY_NUMBERS.map((n) => [JSON.stringify(n), n])
          : parameter.schema?.enum
            ? [['not an option', 'not-an-option']]
            // (A lone surrogate cannot be sent in a URL: URLs are UTF-8, so it arrives as U+FFFD.)
            : [['a NUL', 'x\u0000'], ['10,000 characters', 'a'.repeat(10_000)]];
        for (const [what, value] of variants) {
          cases.push({ what: `query ${parameter.name} = ${what}`, method, path: `${concrete}${query({ ...request.query, [parameter.name]: value })}`, status: 400, codes: ['validation_failed'], issuePath: parameter.name });
        }
      }
      if (queryParams.length > 0) {
        cases.push({ what: 'an unknown query parameter', method, path: `${concrete}${query({ ...request.query, zzz: '1' })}`, status: 400, codes: ['validation_failed'] });
      }

      if (!writes) continue;
      for (const [what, body, status, code] of BODY_CASES) {
        cases.push({ ...base, what: `body: ${what}`, headers: { ...headers, ...body.headers }, body: body.body, status, codes: [code] });
      }
      if (request.body === undefined) continue;
      for (const [what, text] of SCHEMA_BODY_CASES) {
        cases.push({ ...base, what: `body: ${what}`, headers: jsonHeaders, body: text, status: 400, codes: ['validation_failed'] });
      }
      cases.push({ ...base, what: 'body: an unknown field', headers: jsonHeaders, body: JSON.stringify({ ...(request.body as object), zzz: 1 }), status: 400, codes: ['validation_failed'] });
      for (const leaf of leaves(request.body)) {
        const variants = typeof leaf.value === 'string' ? stringVariants(leaf.value) : typeof leaf.value === 'boolean' ? booleanVariants() : numberVariants();
        for (const [what, replacement] of variants) {
          const field = leaf.path.join('.');
          cases.push({ ...base, what: `${field}: ${what}`, headers: jsonHeaders, body: JSON.stringify(withLeaf(request.body, leaf.path, replacement)), status: 400, codes: ['validation_failed'], issuePath: field });
        }
      }
      if (headers['idempotency-key']) {
        cases.push({ ...base, what: 'a malformed Idempotency-Key', headers: { ...jsonHeaders, 'idempotency-key': 'has spaces in it' }, body: validBody ?? undefined, status: 400, codes: ['invalid_idempotency_key'] });
      }
    }
  }
  // One key per case: a shared key would turn every case after the first into a replay.
  return cases.map((c, i) => (c.headers?.['idempotency-key'] === FRESH_KEY ? { ...c, headers: { ...c.headers, 'idempotency-key': `bad-input-${i}` } } : c));
}

/** Rows and a digest of every table, keyed by table. */
const snapshot = () => snapshotTables(api.database.db);

beforeAll(async () => {
  api = await startApiHarness();
  customerId = `bad-${Date.now().toString(36)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Target Co', email: 'billing@target.test', plan: 'pro' } });
  expect(created.status).toBe(201);
  document = (await api.request('GET', '/openapi.json', { auth: null })).body as OpenApiDocument;
  // The first-period invoice is written by the workflow: wait for it, then for the tables to settle.
  invoiceNumber = await eventually(async () => (await api.database.db.invoice.findFirst({ where: { customerId } }))?.number);
});
afterAll(async () => {
  await api?.close();
});

describe('every bad input over every route is a 4xx with a stable code and changes nothing', () => {
  it('the whole table of cases', async () => {
    const cases = buildCases(document, customerId, invoiceNumber);
    expect(cases.length).toBeGreaterThan(300);
    const before = await eventually(async () => {
      const first = await snapshot();
      await new Promise((r) => setTimeout(r, 300));
      return JSON.stringify(first) === JSON.stringify(await snapshot()) ? first : undefined;
    });
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['customers', 'subscriptions', 'invoices', 'usage_events', 'idempotency_records']));

    const failures: string[] = [];
    for (const c of cases) {
      const answer = await send(c.method, c.path, { headers: c.headers, body: c.body });
      const label = `${c.method} ${c.path.slice(0, 120)} — ${c.what}`;
      const code = (answer.body as { error?: { code?: string } } | undefined)?.error?.code;
      if (answer.status !== c.status) failures.push(`${label}: status ${answer.status} (${code ?? JSON.stringify(answer.body)?.slice(0, 200)}), expected ${c.status}`);
      if (answer.status < 400 || answer.status >= 500) continue;
      if (c.allow) {
        const allow = (answer.allow ?? '').split(',').map((m) => m.trim()).filter(Boolean).sort();
        if (allow.join() !== [...c.allow].sort().join()) failures.push(`${label}: Allow "${answer.allow}", expected ${c.allow.join(', ')}`);
      }
      if (c.method === 'HEAD') continue; // no body to check
      const problem = shapeProblem(answer.body);
      if (problem) failures.push(`${label}: error shape: ${problem}`);
      else if (!c.codes.includes(code!)) failures.push(`${label}: code ${code}, expected ${c.codes.join(' or ')}`);
      if (c.issuePath !== undefined && !problem) {
        const issues = (answer.body as { error: { details?: { issues?: Array<{ path: string }> } } }).error.details?.issues ?? [];
        if (!issues.some((issue) => issue.path === c.issuePath)) failures.push(`${label}: details.issues ${JSON.stringify(issues).slice(0, 200)} do not name ${c.issuePath}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });
});

describe('what is still accepted', () => {
  const event = (key: string) => JSON.stringify({ customerId, metric: 'api_calls', quantity: 1, idempotencyKey: key });

  it('a usage event sent gzip-, deflate- or br-encoded is counted', async () => {
    for (const [encoding, encode] of [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync]] as const) {
      const answer = await send('POST', '/v1/usage/events', { headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: encode(event(`encoded-${encoding}`)) });
      expect(answer.status, encoding).toBe(200);
      expect(answer.body).toMatchObject({ status: 'counted', idempotencyKey: `encoded-${encoding}` });
    }
    const plain = await send('POST', '/v1/usage/events', { headers: { 'content-type': 'application/json; charset=UTF-8' }, body: event('plain') });
    expect(plain.status).toBe(200);
  });

  it('HEAD on a GET route answers like GET, without a body', async () => {
    for (const path of ['/openapi.json', `/v1/customers/${customerId}/subscription`, `/v1/usage/check?customerId=${customerId}&metric=api_calls`]) {
      const answer = await send('HEAD', path);
      expect(answer.status, path).toBe(200);
      expect(answer.body, path).toBeUndefined();
    }
  });

  it('a request with an Idempotency-Key refused with 400 leaves the key free for the corrected request', async () => {
    const key = `fix-${Date.now()}`;
    const body = { id: `fixed-${Date.now().toString(36)}`, name: 'Fixed Co', email: 'billing@fixed.test', plan: 'pro' };
    const refused = await api.request('POST', '/v1/customers', { body: { ...body, name: 'bad\u0000name' }, headers: { 'idempotency-key': key } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details.issues).toEqual([{ path: 'name', message: expect.stringMatching(/NUL/) }]);
    const fixed = await api.request('POST', '/v1/customers', { body, headers: { 'idempotency-key': key } });
    expect(fixed.status).toBe(201);
  });
});

describe('email addresses within RFC 5321 limits', () => {
  const create = (email: string) => api.request('POST', '/v1/customers', { body: { id: `mail-${Math.random().toString(36).slice(2, 10)}`, name: 'Mail Co', email, plan: 'free' } });

  // Labels of at most 63 characters, so only the lengths under test are wrong.
  const domainOf = (length: number) => `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(length - 133)}.test`;

  it('refuses a 65-character local part and a 255-character address with 400', async () => {
    const longLocal = await create(`${'a'.repeat(65)}@example.test`);
    expect(longLocal.status).toBe(400);
    expect(longLocal.body.error).toMatchObject({ code: 'validation_failed', details: { issues: [{ path: 'email' }] } });
    const address = `${'a'.repeat(60)}@${domainOf(194)}`;
    expect(address).toHaveLength(255);
    const longAddress = await create(address);
    expect(longAddress.status).toBe(400);
    expect(longAddress.body.error).toMatchObject({ code: 'validation_failed', details: { issues: [{ path: 'email' }] } });
  });

  it('accepts a 64-character local part in a 254-character address', async () => {
    const address = `${'a'.repeat(64)}@${domainOf(189)}`;
    expect(address).toHaveLength(254);
    expect((await create(address)).status).toBe(201);
  });
});

describe('request targets no URL parser accepts', () => {
  it('are answered in the error shape, and the server keeps serving', async () => {
    const { port } = new URL(api.baseUrl);
    for (const target of ['//[', '/v1/usage/events?%']) {
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OPERATOR_KEY}\r\nConnection: close\r\n\r\n`);
        });
        let data = '';
        socket.on('data', (chunk) => { data += chunk.toString(); });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
      expect(status, target).toBeGreaterThanOrEqual(400);
      expect(status, target).toBeLessThan(500);
      expect(shapeProblem(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)))).toBeUndefined();
    }
    expect((await send('GET', '/health')).status).toBe(200);
  });
});
