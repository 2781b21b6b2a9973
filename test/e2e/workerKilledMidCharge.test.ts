/**
 * A worker process killed (SIGKILL) after Stripe took the charge and before Tollgate recorded it,
 * then replaced: the payment step is retried with the same idempotency key, Stripe answers it from
 * memory, and exactly one charge is effective while the invoice ends up paid.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { workerProcesses } from '../harness/workerProcess.js';

let api: ApiHarness;
let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
const workers = workerProcesses();

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  api = await startApiHarness({ withWorker: false });
});
afterAll(async () => {
  workers.stopAll();
  await api?.close();
  await proxy?.close();
  await mock?.stop();
});

const startWorker = () => workers.start({
  DATABASE_URL: api.database.url,
  TEMPORAL_ADDRESS: inject('temporalAddress'),
  TEMPORAL_TASK_QUEUE: api.taskQueue,
  PAYMENT_PROVIDER: 'stripe',
  STRIPE_SECRET_KEY: 'sk_test_tollgate',
  STRIPE_API_BASE: proxy.url,
});

it('a worker killed between the charge and recording it leaves exactly one effective charge and a paid invoice', async () => {
  let first: ChildProcess | undefined;
  let killed: Promise<void> | undefined;
  // The customer has a saved card (stripe-mock's fixture customer has none), so the invoice is charged off-session.
  proxy.inject({
    method: 'GET', path: /^\/v1\/customers\/cus_[^/]+$/, times: Number.POSITIVE_INFINITY,
    respond: ({ upstream }) => ({ status: 200, json: { ...(upstream.json as object), invoice_settings: { default_payment_method: 'pm_card_visa' } } }),
  });
  const charged = proxy.inject({
    method: 'POST',
    path: /^\/v1\/invoices\/[^/]+\/pay$/,
    // Stripe has executed the payment (this answer is what it remembers for the key); the worker
    // dies before the answer reaches it.
    respond: ({ upstream }) => {
      killed = workers.kill(first!);
      const invoice = upstream.json as Record<string, unknown>;
      return { status: 200, json: { ...invoice, status: 'paid', hosted_invoice_url: `https://invoice.stripe.test/${String(invoice.id)}` } };
    },
  });
  first = await startWorker();
  const customerId = `charge-kill-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Kill Co', email: 'kill@example.test', plan: 'pro' } });
  expect(created.status).toBe(201);

  await eventually(() => killed !== undefined, 60_000, 50);
  await killed;
  const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId } });
  expect(invoice.status).toBe('open');
  await startWorker();

  const paid = await eventually(async () => {
    const row = await api.database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } });
    return row.status === 'paid' ? row : undefined;
  }, 60_000, 200);
  expect(charged.fired).toBe(1);
  const payPath = `/v1/invoices/${paid.providerInvoiceId}/pay`;
  expect(proxy.countByKey(`tollgate:invoice:${invoice.id}:pay:1`)).toBeGreaterThanOrEqual(2);
  expect(proxy.upstreamCount('POST', payPath)).toBe(1);
  expect(proxy.effective('POST', payPath)).toBe(1);
  // Every other step was made once too, however often it was repeated.
  expect(proxy.effective('POST', '/v1/customers')).toBe(1);
  expect(proxy.effective('POST', '/v1/invoices')).toBe(1);
  expect(paid).toMatchObject({ collectionAttempts: 1, providerStatus: 'paid' });
}, 120_000);
