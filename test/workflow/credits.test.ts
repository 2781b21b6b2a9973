/**
 * Credits in the subscription workflow over hours and days of workflow time, on the Java
 * time-skipping test server with the real activities, a real PostgreSQL, and Stripe played by
 * stripe-mock behind the fault-injecting proxy: unpaid purchases lapse (their invoice voided,
 * nothing granted), and a declined auto-recharge follows its schedule (1, 6 and 24 hours after
 * the first failure), across a renewal, until it is turned off.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { DAY_MS, HOUR_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { grantCredits, saveAutoRecharge } from '../../store/creditStore.js';
import { insertCustomer } from '../../store/customerStore.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { buyCreditsUpdate, creditBalanceSignal } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { startStripeFaultProxy, type StripeFaultProxy } from '../harness/stripeFaultProxy.js';
import { startStripeMock, type RunningStripeMock } from '../harness/stripeMock.js';
import { PAY_PATH, withSavedCard } from '../harness/stripeScenarios.js';
import { serverNow, skipBounded, startTimeSkipping, terminateWhenIdle, testServerWorker } from '../harness/timeSkipping.js';

const catalog = loadCatalog(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples/seats-eur.json'));
const TOKEN = 1_000_000_000n; // nanos of one token
let env: TestWorkflowEnvironment;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
let mock: RunningStripeMock | undefined;
let proxy: StripeFaultProxy;
const taskQueue = `credits-${randomUUID()}`;
const started: string[] = [];

beforeAll(async () => {
  mock = await startStripeMock();
  proxy = await startStripeFaultProxy({ upstream: mock.url });
  [env, database] = await Promise.all([startTimeSkipping(), createTestDatabase()]);
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  worker = await testServerWorker({ env, database, taskQueue, payments: new StripePaymentProvider({ secretKey: 'sk_test_credits', apiBase: proxy.url, automaticTax: false }), catalog });
  running = worker.run();
});
afterEach(async () => {
  proxy.clearFaults();
  await terminateWhenIdle(env, started);
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await database?.close();
  await proxy?.close();
  await mock?.stop();
});

const skip = (duration: string) => skipBounded(env, started, duration);

/** A customer on the free plan (no first invoice); `endsInMs` imports one whose period ends that soon. */
async function freeCustomer(endsInMs?: number) {
  const customerId = `cr-${randomUUID().slice(0, 8)}`;
  const now = await serverNow(env);
  const input = newSubscriptionInput({
    catalog, customerId, planId: 'free', interval: 'monthly', seats: 1, now, paymentProvider: 'stripe',
    ...(endsInMs !== undefined ? { importedPeriodStart: now - 30 * DAY_MS + endsInMs } : {}),
  });
  await insertCustomer(database.db, { id: customerId, name: 'Tokens AG', email: 'ops@tokens.test' }, input);
  const handle = await startSubscriptionWorkflow(env.client, taskQueue, input);
  started.push(handle.workflowId);
  return { customerId, handle, input };
}

const balanceOf = async (customerId: string) => (await database.db.creditAccount.findFirst({ where: { customerId } }))?.balanceNanos.toFixed(0) ?? '0';

describe('purchases that are never paid', () => {
  it('a Checkout purchase lapses with its page: the page is closed at Stripe, the invoice voided, nothing granted', async () => {
    const { customerId, handle } = await freeCustomer();
    const answer = await handle.executeUpdate(buyCreditsUpdate, { args: [{ packId: 'starter', checkout: { successUrl: 'https://app.test/ok', cancelUrl: 'https://app.test/no' } }], updateId: `buy-${customerId}` });
    expect(answer).toMatchObject({ status: 'checkout_required', creditsNanos: (1_000_000n * TOKEN).toString(), amountMinor: '500' });
    expect(answer.expiresAt! - (await serverNow(env))).toBeLessThanOrEqual(23 * HOUR_MS);
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'credit_purchase' } });
    await skip('23 hours');
    await skip('15 minutes');
    await eventually(async () => (await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status === 'void');
    expect(proxy.requests.some((r) => /^\/v1\/checkout\/sessions\/[^/]+\/expire$/.test(r.path) && r.idempotencyKey === `tollgate:invoice:${invoice.id}:checkout_expire`)).toBe(true);
    expect(await balanceOf(customerId)).toBe('0');
  });

  it('a declined purchase stays payable for 23 hours, then its invoice is voided', async () => {
    const { customerId, handle } = await freeCustomer();
    withSavedCard(proxy);
    proxy.inject({ method: 'POST', path: PAY_PATH, error: 'card_declined' });
    const answer = await handle.executeUpdate(buyCreditsUpdate, { args: [{ packId: 'standard' }], updateId: `buy-${customerId}` });
    expect(answer).toMatchObject({ status: 'payment_failed' });
    const invoice = await database.db.invoice.findFirstOrThrow({ where: { customerId, reason: 'credit_purchase' } });
    await skip('22 hours');
    expect((await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status).toBe('open');
    await skip('2 hours');
    await eventually(async () => (await database.db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status === 'void');
    expect(await balanceOf(customerId)).toBe('0');
  });
});

describe('auto-recharge over hours', () => {
  it('a declining card is retried 1, 6 and 24 hours after the first failure, across a renewal, then turned off; the customer is told each time', async () => {
    // The cycle ends 3 hours in: the retries at 6 and 24 hours are the next run's.
    const { customerId, handle, input } = await freeCustomer(3 * HOUR_MS);
    withSavedCard(proxy);
    const declines = proxy.inject({ method: 'POST', path: PAY_PATH, error: 'card_declined', times: Number.POSITIVE_INFINITY });
    await database.db.$transaction((tx) => grantCredits(tx, { customerId, unit: 'tokens', kind: 'grant', creditsNanos: 100_000n * TOKEN, reference: 'grant:seed', grantType: 'manual', reason: 'seed' }));
    await saveAutoRecharge(database.db, customerId, 'tokens', { enabled: true, thresholdNanos: 500_000n * TOKEN, packId: 'starter', spendingLimitMinor: null }, undefined);
    // What the relay sends for the outbox row the settings wrote (no relay runs on the test server).
    await handle.signal(creditBalanceSignal, { unit: 'tokens', crossing: 1, kind: 'low', balanceNanos: (100_000n * TOKEN).toString(), thresholdNanos: (500_000n * TOKEN).toString() });

    const attempts = async (n: number) => eventually(async () => (declines.fired >= n ? true : undefined));
    await attempts(1);
    const recharge = await database.db.creditPurchase.findFirstOrThrow({ where: { customerId, kind: 'recharge' }, include: { invoice: true } });
    expect(recharge).toMatchObject({ packId: 'starter', packs: 1, amountMinor: 500n });
    expect(recharge.id).toBe(`recharge:${customerId}:tokens:1`);
    await skip('59 minutes');
    expect(declines.fired).toBe(1);
    await skip('2 minutes');
    await attempts(2);
    await skip('5 hours');
    await attempts(3);
    // The renewal came between the retries: the next run carried the recharge on.
    await eventually(async () => ((await database.db.subscription.findUniqueOrThrow({ where: { customerId } })).cycleStart.getTime() > input.cycleStart ? true : undefined));
    await skip('18 hours');
    await attempts(4);
    await eventually(async () => ((await database.db.creditAccount.findFirstOrThrow({ where: { customerId } })).autoRecharge === false ? true : undefined));
    const account = await database.db.creditAccount.findFirstOrThrow({ where: { customerId } });
    expect(account).toMatchObject({ rechargeFailures: 4, autoRecharge: false });
    expect(account.autoRechargeOffReason).toMatch(/The last 4 recharge payments failed/);
    expect((await database.db.invoice.findUniqueOrThrow({ where: { id: recharge.invoiceId } })).status).toBe('void');
    const keys = proxy.requests.filter((r) => PAY_PATH.test(r.path) && r.idempotencyKey?.startsWith(`tollgate:invoice:${recharge.invoiceId}:pay:`)).map((r) => r.idempotencyKey);
    expect([...new Set(keys)]).toEqual([1, 2, 3, 4].map((n) => `tollgate:invoice:${recharge.invoiceId}:pay:${n}`));
    // Told: the low balance, three failures with their next retry, and the turn-off (email: reported skipped without SMTP here).
    const notices = await eventually(async () => {
      const rows = await database.db.paymentNoticeDelivery.findMany({ where: { customerId }, orderBy: { noticeId: 'asc' } });
      return rows.length === 5 ? rows : undefined;
    });
    expect(notices.map((n) => n.noticeId)).toEqual([
      'credits:tokens:1:low',
      `credits:recharge:${customerId}:tokens:1:failed:1`,
      `credits:recharge:${customerId}:tokens:1:failed:2`,
      `credits:recharge:${customerId}:tokens:1:failed:3`,
      `credits:recharge:${customerId}:tokens:1:off`,
    ].sort());
    expect(await balanceOf(customerId)).toBe((100_000n * TOKEN).toString());
  });
});
