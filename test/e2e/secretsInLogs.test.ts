/**
 * Secrets never reach the logs (issue 12): the API and the worker run as processes, exactly as
 * `npm run api` and `npm run worker` (debug logging, Stripe through stripe-mock), through a run
 * that handles every kind of secret: the operator key, server keys, customer session tokens,
 * alert channel secrets (a Slack webhook URL, a Telegram bot token), the Stripe secret key and
 * webhook secret, and failures that log errors (bad and revoked credentials, a refused channel).
 * Then everything both processes wrote is searched for each secret.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/services/freePort.js';
import { projectRoot } from '../../scripts/tools.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';

const OPERATOR_KEY = `op-${randomUUID()}`;
const STRIPE_SECRET_KEY = `sk_test_${randomUUID().replace(/-/g, '')}`;
const STRIPE_WEBHOOK_SECRET = `whsec_${randomUUID().replace(/-/g, '')}`;
const SLACK_URL = `https://hooks.slack.com/services/T000/B000/${randomUUID().replace(/-/g, '')}`;
const TELEGRAM_TOKEN = `123456:${randomUUID().replace(/-/g, '')}`;

let database: TestDatabase;
let stripe: RunningStripeMock;
let baseUrl: string;
const children: ChildProcess[] = [];
let output = '';

function run(entry: string, env: Record<string, string>, ready: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start within 60 s: ${output.slice(-2000)}`)), 60_000);
    const take = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('exit', (code) => reject(new Error(`${entry} exited with ${code}: ${output.slice(-2000)}`)));
  });
}

async function call(method: string, route: string, auth: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

beforeAll(async () => {
  database = await createTestDatabase();
  stripe = await startStripeMock();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `secrets-${randomUUID()}`,
    LOG_LEVEL: 'debug',
    PAYMENT_PROVIDER: 'stripe',
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    TELEGRAM_API_BASE_URL: 'http://127.0.0.1:9',
  };
  await run('worker/main.ts', env, 'Tollgate worker running');
  await run('api/main.ts', { ...env, TOLLGATE_OPERATOR_KEY: OPERATOR_KEY, PORT: String(port), HOST: '127.0.0.1' }, 'Tollgate API listening');
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await stripe?.stop();
  await database?.close();
});

it('no secret of any kind is in the logs of the API and the worker', async () => {
  const customer = `secrets-${Date.now().toString(36)}`;
  expect((await call('POST', '/v1/customers', OPERATOR_KEY, { id: customer, name: 'Secret Co', email: 'billing@secret.test', plan: 'free' })).status).toBe(201);
  const key = (await call('POST', '/v1/api-keys', OPERATOR_KEY, { name: 'logged-key', scopes: ['admin'] })).body as { id: string; key: string };
  const session = (await call('POST', `/v1/customers/${customer}/sessions`, key.key, {})).body as { id: string; token: string };
  expect(session.token).toMatch(/^tg_cs_/);
  expect((await call('GET', `/v1/customers/${customer}/subscription`, session.token)).status).toBe(200);
  expect((await call('PUT', `/v1/customers/${customer}/alert-channels`, session.token, { slack: { webhookUrl: SLACK_URL }, telegram: { botToken: TELEGRAM_TOKEN, chatId: '-100123' } })).status).toBe(200);
  // Refusals, which log: another route, a revoked key, a made-up token, a bad body carrying a secret.
  expect((await call('POST', '/v1/customers', session.token, { id: 'x' })).status).toBe(403);
  expect((await call('DELETE', `/v1/api-keys/${key.id}`, OPERATOR_KEY)).status).toBe(200);
  expect((await call('GET', `/v1/customers/${customer}/subscription`, key.key)).status).toBe(401);
  expect((await call('GET', `/v1/customers/${customer}/subscription`, `tg_sk_${'Z'.repeat(43)}`)).status).toBe(401);
  expect((await call('PUT', `/v1/customers/${customer}/alert-channels`, OPERATOR_KEY, { slack: { webhookUrl: `${SLACK_URL}?x=1`, extra: TELEGRAM_TOKEN } })).status).toBe(400);
  // Stripe: the customer's payment-method page (a call to stripe-mock with the secret key), and a
  // webhook with a wrong signature.
  expect((await call('POST', `/v1/customers/${customer}/payment-method/checkout`, OPERATOR_KEY, {})).status).toBe(201);
  const webhook = await fetch(`${baseUrl}/v1/stripe/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=1,v1=${STRIPE_WEBHOOK_SECRET}` }, body: '{}' });
  expect(webhook.status).toBe(400);
  // A webhook endpoint: its signing secret, and deliveries that fail (no such host) and are retried.
  const hook = (await call('POST', '/v1/webhook-endpoints', OPERATOR_KEY, { url: 'https://hooks.invalid/tollgate', eventTypes: ['invoice.created'] })).body as { id: string; secret: string };
  expect(hook.secret).toMatch(/^whsec_/);
  const rotated = (await call('POST', `/v1/webhook-endpoints/${hook.id}/rotate-secret`, OPERATOR_KEY, {})).body as { secret: string };
  expect((await call('POST', '/v1/customers', OPERATOR_KEY, { id: `${customer}-paid`, name: 'Paid Co', email: 'billing@paid.test', plan: 'pro' })).status).toBe(201);
  // One delivery attempt made and failed (and logged by the worker as a failed activity).
  await eventually(async () => (await database.db.webhookAttempt.count()) > 0 || undefined, 30_000);
  // The logs have the requests (so this looked at real output), and none of the secrets.
  await eventually(() => output.includes('"path":"/v1/customers/') || undefined);
  for (const [what, secret] of Object.entries({ OPERATOR_KEY, serverKey: key.key, sessionToken: session.token, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, SLACK_URL, TELEGRAM_TOKEN, webhookSecret: hook.secret, rotatedWebhookSecret: rotated.secret })) {
    expect(output.includes(secret), `${what} is in the logs`).toBe(false);
  }
});
