/**
 * A worker process killed (SIGKILL) after Stripe took the payment for a credit purchase and before
 * Tollgate recorded it, then replaced: the payment step is retried with the same idempotency key,
 * Stripe answers it from memory, exactly one payment is effective, the purchase invoice ends up
 * paid, and the pack's credits are granted exactly once (in the transaction that marks it paid).
 * The purchase request, retried with its Idempotency-Key, answers the one purchase and grants
 * nothing more.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, paidInvoice, withSavedCard } from '../harness/stripeScenarios.js';
import { workerProcesses } from '../harness/workerProcess.js';

const SEATS_EUR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json');
const catalog = loadCatalog(SEATS_EUR);

let api: ApiHarness;
let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
const workers = workerProcesses();

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  // The API knows the provider is Stripe (it never charges: the worker processes do).
  api = await startApiHarness({
    withWorker: false,
    catalog,
    payments: new StripePaymentProvider({ secretKey: 'sk_test_tollgate', apiBase: proxy.url, automaticTax: false }),
  });
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
  // Priced with the same catalog as the API.
  TOLLGATE_CATALOG: SEATS_EUR,
});

type Answer = { status: number; body: any };

it('a worker killed between the purchase\'s charge and recording it: one effective payment, a paid invoice, the pack granted once', async () => {
  let first: ChildProcess | undefined;
  let killed: Promise<void> | undefined;
  withSavedCard(proxy);
  // The subscription's first invoice (Personal, 9.00 EUR) is paid normally.
  const firstPay = proxy.inject({ method: 'POST', path: PAY_PATH, respond: paidInvoice });
  first = await startWorker();

  const customerId = `purchase-kill-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Tokens GmbH', email: 'ops@tokens.test', plan: 'personal' } });
  expect(created.status).toBe(201);
  await eventually(async () => (await api.database.db.invoice.findFirst({ where: { customerId, status: 'paid' } })) ?? undefined, 60_000, 100);
  expect(firstPay.fired).toBe(1);
  expect((await api.request('GET', `/v1/customers/${customerId}/credits`)).body.balance).toBe('0');

  // From here on, the proxy's counts are the purchase's.
  const upstreamBefore = proxy.upstreamCount('POST', PAY_PATH);
  const effectiveBefore = proxy.effective('POST', PAY_PATH);
  const logBefore = proxy.requests.length;
  const charged = proxy.inject({
    method: 'POST',
    path: PAY_PATH,
    // Stripe has executed the payment (this answer is what it remembers for the key); the worker
    // dies before the answer reaches it.
    respond: (context) => {
      killed = workers.kill(first!);
      return paidInvoice(context);
    },
  });

  const key = `purchase-${randomUUID()}`;
  const buy = () => api.request('POST', `/v1/customers/${customerId}/credits/purchases`, { body: { packId: 'standard' }, headers: { 'idempotency-key': key } });
  // Not awaited: its answer may only come once the replacement worker has finished the payment step.
  const pending: Promise<Answer> = buy();

  await eventually(() => killed !== undefined, 60_000, 50);
  await killed;
  const invoice = await api.database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'credit_purchase' } });
  // Stripe took the money; Tollgate has not heard: open, nothing granted.
  expect(invoice.status).toBe('open');
  expect(await api.database.db.creditTransaction.count({ where: { customerId } })).toBe(0);
  await startWorker();

  // The first request may have given up waiting (503 change_in_progress): the same key continues it.
  let answer = await pending;
  const answers: Answer[] = [answer];
  const deadline = Date.now() + 90_000;
  while (answer.status !== 200 && Date.now() < deadline) {
    const retryable = (answer.status === 503 && answer.body?.error?.code === 'change_in_progress')
      || (answer.status === 409 && answer.body?.error?.code === 'idempotency_request_in_progress');
    if (!retryable) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
    answer = await buy();
    answers.push(answer);
  }
  expect(answer.status, JSON.stringify(answers)).toBe(200);
  const purchase = answer.body.purchase;
  expect(purchase).toMatchObject({ status: 'paid', credits: '2500000', unit: 'tokens', amount: { amount: '10.00', currency: 'EUR' }, invoiceNumber: invoice.number });
  expect(answer.body.credits.balance).toBe('2500000');

  const paid = await api.database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } });
  expect(paid).toMatchObject({ status: 'paid', totalMinor: 1000n, collectionAttempts: 1, providerStatus: 'paid' });
  expect(charged.fired).toBe(1);
  // The pay key was sent again by the replacement worker and answered from Stripe's memory:
  // one payment reached Stripe and took effect.
  const payKey = `tollgate:invoice:${invoice.id}:pay:1`;
  expect(proxy.countByKey(payKey)).toBeGreaterThanOrEqual(2);
  expect(proxy.upstreamCount('POST', PAY_PATH) - upstreamBefore).toBe(1);
  expect(proxy.effective('POST', PAY_PATH) - effectiveBefore).toBe(1);
  const purchaseLog = proxy.requests.slice(logBefore);
  expect(purchaseLog.filter((r) => r.method === 'POST' && PAY_PATH.test(r.path)).every((r) => r.idempotencyKey === payKey)).toBe(true);
  // Every other step of the purchase invoice reached Stripe once too, however often it was repeated.
  const invoiceKeys = [...new Set(purchaseLog.flatMap((r) => (r.idempotencyKey?.startsWith(`tollgate:invoice:${invoice.id}:`) ? [r.idempotencyKey] : [])))];
  expect(invoiceKeys).toEqual(expect.arrayContaining([`tollgate:invoice:${invoice.id}:create`, `tollgate:invoice:${invoice.id}:finalize`, payKey]));
  for (const invoiceKey of invoiceKeys) {
    expect(purchaseLog.filter((r) => r.idempotencyKey === invoiceKey && r.upstreamStatus !== null), invoiceKey).toHaveLength(1);
  }

  // Granted exactly once.
  const summary = await api.request('GET', `/v1/customers/${customerId}/credits`);
  expect(summary.status).toBe(200);
  expect(summary.body.balance).toBe('2500000');
  const granted = await api.database.db.creditTransaction.findMany({ where: { customerId } });
  expect(granted.map((t) => [t.reference, t.kind, t.creditsNanos.toFixed(0), t.invoiceId])).toEqual([
    [`purchase:${purchase.id}`, 'purchase', (2_500_000n * 1_000_000_000n).toString(), invoice.id],
  ]);
  expect(await api.database.db.creditPurchase.count({ where: { customerId } })).toBe(1);

  // The same request again: the same purchase, nothing more granted or charged.
  const repeat = await buy();
  expect(repeat.status).toBe(200);
  expect(repeat.body.purchase).toEqual(purchase);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect((await api.request('GET', `/v1/customers/${customerId}/credits`)).body.balance).toBe('2500000');
  expect(await api.database.db.creditTransaction.count({ where: { customerId, reference: `purchase:${purchase.id}` } })).toBe(1);
  expect(await api.database.db.creditTransaction.count({ where: { customerId } })).toBe(1);
  expect(await api.database.db.invoice.count({ where: { customerId, reason: 'credit_purchase' } })).toBe(1);
  expect(proxy.upstreamCount('POST', PAY_PATH) - upstreamBefore).toBe(1);
}, 180_000);
