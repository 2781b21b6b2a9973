/**
 * Records the workflow histories that test/workflow/replay.test.ts replays: representative
 * subscriptions driven through the real API, worker, PostgreSQL and a Temporal dev server, each
 * run's history saved as JSON under test/histories/<label>/.
 *
 *   npx tsx test/histories/record.ts <label>        e.g. v2
 *
 * Run it when the workflow's behaviour changes (under `patched()`), with a new label, and keep the
 * older folders: replaying them proves running subscriptions survive the change. See
 * docs/architecture.md, "Shipping a workflow change".
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { pino } from 'pino';
import Stripe from 'stripe';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import type { PaymentProvider } from '../../activities/payments/paymentProvider.js';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { startStripeFaultProxy, type RespondContext } from '../harness/stripeFaultProxy.js';
import { startStripeMock } from '../harness/stripeMock.js';
import { createServer } from '../../api/createServer.js';
import type { Catalog } from '../../billing/catalog.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { createSenders } from '../../notifications/senders.js';
import { migrate } from '../../prisma/migrate.js';
import { freePort } from '../../scripts/services/freePort.js';
import { startPostgres } from '../../scripts/services/postgres.js';
import { startTemporalDevServer } from '../../scripts/services/temporalDevServer.js';
import { createDb } from '../../store/db.js';
import { createWorker, workerActivities } from '../../worker/createWorker.js';
import type { RenewalRecord } from '../../activities/subscriptionActivities.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { insertCustomer } from '../../store/customerStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { startAlertRelay } from '../../worker/alertRelay.js';
import { isIdle, runHistories } from '../harness/subscriptionHistory.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DAY_MS = 86_400_000;
const STRIPE_WEBHOOK_SECRET = 'whsec_histories_0123456789';
const KEY = 'history-recorder-operator-key';
const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) {
  process.stderr.write('usage: npx tsx test/histories/record.ts <label>\n');
  process.exit(2);
}
const outDir = path.join(here, label);

Runtime.install({ logger: new DefaultLogger('ERROR') });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-histories-'));
  chmodSync(root, 0o755);
  const postgres = await startPostgres({ dataDir: path.join(root, 'pg', 'data'), port: await freePort(), persistent: false });
  const temporal = await startTemporalDevServer({ port: await freePort() });
  const stops: Array<() => Promise<unknown>> = [];
  try {
    await postgres.createDatabase('histories');
    const databaseUrl = postgres.url('histories');
    await migrate(databaseUrl);
    const db = createDb(databaseUrl);
    stops.push(() => db.$disconnect());
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const client = new Client({ connection });
    const native = await NativeConnection.connect({ address: temporal.address });
    stops.push(() => native.close());
    await registerSearchAttributes(native, 'default');
    const logger = pino({ level: 'silent' });
    const relay = startAlertRelay({ db, temporal: client, logger, intervalMs: 50 });
    stops.push(() => relay.stop());

    // Alert webhooks go to loopback here (a port nobody listens on, to keep a delivery pending).
    const webhooks = { allowHttp: true, allowPrivateNetworks: true };
    /** An API + worker pair for one catalog (the seat scenario needs its own); `slowRenewalMs` holds each renewal activity that long. */
    const stack = async (catalog: Catalog, name: string, slowRenewalMs = 0, payments: PaymentProvider = new NoPaymentProvider()) => {
      const taskQueue = `histories-${name}`;
      const senders = createSenders({ webhooks });
      const real = workerActivities({ db, payments, senders, catalog: () => catalog });
      const worker = await createWorker({
        connection: native, namespace: 'default', taskQueue, db, payments, senders, catalog: () => catalog,
        options: slowRenewalMs === 0 ? {} : {
          activities: {
            ...real,
            recordRenewal: async (args: RenewalRecord) => { await sleep(slowRenewalMs); return real.recordRenewal(args); },
          },
        },
      });
      const running = worker.run();
      stops.push(async () => { worker.shutdown(); await running; });
      const { server, close } = createServer({ db, databaseUrl, temporal: client, taskQueue, catalog, operatorKey: KEY, logger, alertWebhooks: webhooks, stripeWebhookSecret: STRIPE_WEBHOOK_SECRET, payments, testClocks: true });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      stops.push(close);
      const port = (server.address() as { port: number }).port;
      const call = async (method: string, url: string, body?: unknown, key?: string): Promise<{ status: number; body: unknown }> => {
        const response = await fetch(`http://127.0.0.1:${port}${url}`, {
          method,
          headers: { authorization: `Bearer ${KEY}`, ...(key ? { 'idempotency-key': key } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      };
      return Object.assign(call, { taskQueue, catalog, port });
    };
    const api = await stack(loadCatalog(), 'default');
    const seatApi = await stack(loadCatalog(path.join(here, '..', '..', 'config', 'examples', 'seats-eur.json')), 'seats');
    const slowApi = await stack(loadCatalog(), 'slow-renewal', 2_000);
    // Stripe through stripe-mock, with a proxy that answers payments as Stripe would (paid, or declined).
    const stripeMock = await startStripeMock();
    stops.push(() => stripeMock.stop());
    const stripeProxy = await startStripeFaultProxy({ upstream: stripeMock.url });
    stops.push(() => stripeProxy.close());
    const stripeApi = await stack(loadCatalog(), 'stripe', 0, new StripePaymentProvider({ secretKey: 'sk_test_histories', apiBase: stripeProxy.url, automaticTax: false }));
    // Credits (issue 10): the token catalog, retries of a declined recharge after about 0.7 s and 1.4 s.
    const tokens = loadCatalog(path.join(here, '..', '..', 'config', 'examples', 'seats-eur.json'));
    const creditsApi = await stack({ ...tokens, credits: { ...tokens.credits!, autoRecharge: { defaultSpendingLimit: '50.00', retryHours: [0.0002, 0.0004] } } }, 'credits', 0,
      new StripePaymentProvider({ secretKey: 'sk_test_histories', apiBase: stripeProxy.url, automaticTax: false }));
    // Its customers have a saved card (stripe-mock's fixture customer has none), except where a scenario says otherwise.
    const savedCard = { method: 'GET', path: /^\/v1\/customers\/cus_[^/]+$/, times: Number.POSITIVE_INFINITY, respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), invoice_settings: { default_payment_method: 'pm_card_visa' } } }) };
    /** Each Stripe scenario starts from a customer with a saved card and no leftover faults. */
    const freshStripe = (card = true) => {
      stripeProxy.clearFaults();
      if (card) stripeProxy.inject(savedCard);
    };
    const paidAnswer = { method: 'POST', path: /^\/v1\/invoices\/[^/]+\/pay$/, respond: ({ upstream }: RespondContext) => ({ status: 200, json: { ...(upstream.json as object), status: 'paid' } }) };
    /** A signed Stripe webhook, sent to the stack's API like Stripe would. */
    const webhook = async (call: typeof api, event: { id: string; type: string; object: Record<string, unknown> }) => {
      const payload = JSON.stringify({ id: event.id, object: 'event', type: event.type, created: Math.floor(Date.now() / 1000), livemode: false, data: { object: event.object } });
      const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_WEBHOOK_SECRET });
      const response = await fetch(`http://127.0.0.1:${call.port}/v1/stripe/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
      if (response.status !== 200) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
    };
    const firstInvoiceOf = async (id: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const invoice = await db.invoice.findFirst({ where: { customerId: id }, orderBy: { number: 'asc' } });
        if (invoice && (invoice.providerInvoiceId || invoice.paymentProvider === 'none')) return invoice;
        if (Date.now() > deadline) throw new Error(`${id}: no invoice`);
        await sleep(100);
      }
    };
    /** As if the API died after the workflow answered but before it stored the answer. */
    const forgetAnswer = (key: string) => db.$executeRaw`
      UPDATE idempotency_records SET status = NULL, response = NULL, completed_at = NULL, claimed_at = now() - interval '2 minutes' WHERE key = ${key}`;

    const must = async (call: Promise<{ status: number; body: unknown }>, ok: number[] = [200, 201]) => {
      const answer = await call;
      if (!ok.includes(answer.status)) throw new Error(`unexpected answer ${answer.status}: ${JSON.stringify(answer.body)}`);
      return answer;
    };
    /** A customer; `endsInMs` imports one whose period ends that soon, so it renews during the recording. */
    const customer = async (call: typeof api, id: string, plan: string, endsInMs?: number, extra: Record<string, unknown> = {}) => {
      const periodStart = endsInMs === undefined ? undefined : new Date(Date.now() - 30 * DAY_MS + endsInMs).toISOString();
      await must(call('POST', '/v1/customers', { id, name: `Customer ${id}`, email: `${id}@example.test`, plan, ...(periodStart ? { periodStart } : {}), ...extra }));
      return id;
    };
    /** Waits until the workflow has continued-as-new `runs - 1` times and is idle (or, `busy`, has work pending). */
    const waitForRuns = async (id: string, runs: number, busy = false) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const count = (await runHistories(client, id)).length;
        if (count >= runs && (busy || await isIdle(client, id))) return;
        if (Date.now() > deadline) throw new Error(`${id}: ${count} runs after 60 s, wanted ${runs}`);
        await sleep(200);
      }
    };
    const idle = async (id: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (await isIdle(client, id)) return;
        if (Date.now() > deadline) throw new Error(`${id} did not become idle`);
        await sleep(100);
      }
    };

    /** Waits until `check` holds (the credit scenarios wait for recharges and webhooks). */
    const until = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 30_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`${what}: not after 30 s`);
        await sleep(100);
      }
    };
    const tokenEvent = (customerId: string, quantity: number, key: string) => ({ customerId, metric: 'enrichment_tokens', quantity, idempotencyKey: key });

    const scenarios: Record<string, () => Promise<string>> = {
      'create-paid': async () => customer(api, 'h-create', 'pro'),
      'renewal-continue-as-new': async () => {
        const id = await customer(api, 'h-renew', 'pro', 3_000);
        await waitForRuns(id, 2);
        return id;
      },
      upgrade: async () => {
        const id = await customer(api, 'h-upgrade', 'basic');
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { plan: 'pro' }));
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { plan: 'enterprise' }));
        return id;
      },
      'downgrade-credit-renewal': async () => {
        const id = await customer(api, 'h-downgrade', 'pro', 4_000);
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { plan: 'basic' }));
        await waitForRuns(id, 2);
        return id;
      },
      'cancel-reactivate-renewal': async () => {
        const id = await customer(api, 'h-cancel', 'pro', 4_000);
        await must(api('POST', `/v1/customers/${id}/subscription/cancel`));
        await must(api('POST', `/v1/customers/${id}/subscription/reactivate`));
        await must(api('POST', `/v1/customers/${id}/subscription/cancel`));
        await waitForRuns(id, 2);
        return id;
      },
      alerts: async () => {
        const id = await customer(api, 'h-alerts', 'free');
        await must(api('POST', '/v1/usage/events', { customerId: id, metric: 'api_calls', quantity: 800, idempotencyKey: 'a-1' }));
        await must(api('POST', '/v1/usage/events', { customerId: id, metric: 'api_calls', quantity: 200, idempotencyKey: 'a-2' }));
        const deadline = Date.now() + 30_000;
        while ((await db.alertDelivery.count({ where: { customerId: id } })) < 2) {
          if (Date.now() > deadline) throw new Error('alerts were not delivered');
          await sleep(100);
        }
        return id;
      },
      'interval-switch': async () => {
        const id = await customer(api, 'h-interval', 'pro');
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { interval: 'yearly' }));
        return id;
      },
      'seats-renewal': async () => {
        const id = await customer(seatApi, 'h-seats', 'team', 5_000, { seats: 3 });
        await must(seatApi('POST', `/v1/customers/${id}/subscription/change`, { seats: 5 }));
        await must(seatApi('POST', `/v1/customers/${id}/subscription/change`, { seats: 4 }));
        await waitForRuns(id, 2);
        return id;
      },
      'change-during-renewal': async () => {
        // Yearly: the cycle renews (no fee) while most of the year's credit is owed; a cancel lands
        // while the (held) renewal activity runs, so the unspent credit comes back as a new version.
        const id = await customer(slowApi, 'h-during', 'pro', 2_500, { interval: 'yearly' });
        await must(slowApi('POST', `/v1/customers/${id}/subscription/change`, { plan: 'basic' }));
        await sleep(3_300);
        await must(slowApi('POST', `/v1/customers/${id}/subscription/cancel`));
        await waitForRuns(id, 2);
        return id;
      },
      'early-continue-as-new': async () => {
        // A run continues-as-new within its cycle after maxUpdatesPerRun Updates (3 here, 200 by default).
        const id = 'h-early';
        const input = { ...newSubscriptionInput({ catalog: api.catalog, customerId: id, planId: 'pro', interval: 'monthly', seats: 1, now: Date.now() }), maxUpdatesPerRun: 3 };
        await insertCustomer(db, { id, name: 'Customer h-early', email: 'h-early@example.test' }, input);
        await startSubscriptionWorkflow(client, api.taskQueue, input);
        for (const route of ['cancel', 'reactivate', 'cancel', 'reactivate', 'cancel']) await must(api('POST', `/v1/customers/${id}/subscription/${route}`));
        await waitForRuns(id, 2);
        return id;
      },
      'retry-answered-in-next-run': async () => {
        const id = await customer(api, 'h-retry', 'pro', 3_000);
        await must(api('POST', `/v1/customers/${id}/subscription/cancel`, undefined, 'retry-key'));
        await must(api('POST', `/v1/customers/${id}/subscription/reactivate`));
        await waitForRuns(id, 2);
        await forgetAnswer('retry-key');
        await must(api('POST', `/v1/customers/${id}/subscription/cancel`, undefined, 'retry-key'));
        return id;
      },
      'alert-handed-over': async () => {
        // Slack at a port nobody listens on: the delivery is still retrying at the renewal, and the next run takes it over.
        const id = await customer(api, 'h-alert-over', 'free', 4_000);
        await must(api('PUT', `/v1/customers/${id}/alert-channels`, { slack: { webhookUrl: `http://127.0.0.1:${await freePort()}/hook` } }));
        await must(api('POST', '/v1/usage/events', { customerId: id, metric: 'api_calls', quantity: 900, idempotencyKey: 'o-1' }));
        await waitForRuns(id, 2, true);
        return id;
      },
      'settle-invoices': async () => {
        const id = await customer(api, 'h-settle', 'basic');
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { plan: 'pro' }));
        const [first, second] = await db.invoice.findMany({ where: { customerId: id }, orderBy: { number: 'asc' } });
        await must(api('POST', `/v1/customers/${id}/invoices/${first!.number}/mark-paid`, { reference: 'wire 1' }));
        await must(api('POST', `/v1/customers/${id}/invoices/${second!.number}/void`, {}));
        await must(api('POST', `/v1/customers/${id}/invoices/${second!.number}/void`, {}), [409]);
        return id;
      },
      'stripe-collect-renewal': async () => {
        freshStripe();
        stripeProxy.inject({ ...paidAnswer, times: 2 });
        const id = await customer(stripeApi, 'h-stripe-renew', 'pro', 5_000);
        await must(stripeApi('POST', `/v1/customers/${id}/subscription/change`, { plan: 'enterprise' }));
        await waitForRuns(id, 2);
        return id;
      },
      'stripe-declined-then-webhooks': async () => {
        freshStripe();
        stripeProxy.inject({ method: 'POST', path: paidAnswer.path, error: 'card_declined' });
        const id = await customer(stripeApi, 'h-stripe-webhook', 'pro');
        const invoice = await firstInvoiceOf(id);
        const object = { id: invoice.providerInvoiceId, object: 'invoice', metadata: { tollgate_invoice_id: invoice.id, tollgate_customer_id: id } };
        await webhook(stripeApi, { id: 'evt_h_failed', type: 'invoice.payment_failed', object });
        await webhook(stripeApi, { id: 'evt_h_paid', type: 'invoice.paid', object });
        await webhook(stripeApi, { id: 'evt_h_paid', type: 'invoice.paid', object });
        return id;
      },
      'stripe-declined-upgrade-then-paid': async () => {
        freshStripe();
        stripeProxy.inject({ ...paidAnswer, times: 1 });
        const id = await customer(stripeApi, 'h-stripe-held', 'basic');
        stripeProxy.inject({ method: 'POST', path: paidAnswer.path, error: 'card_declined' });
        await must(stripeApi('POST', `/v1/customers/${id}/subscription/change`, { plan: 'pro' }), [402]);
        const held = await db.invoice.findFirstOrThrow({ where: { customerId: id, reason: 'plan_change' } });
        await webhook(stripeApi, { id: 'evt_h_held_paid', type: 'invoice.paid', object: { id: held.providerInvoiceId, object: 'invoice', metadata: { tollgate_invoice_id: held.id, tollgate_customer_id: id } } });
        const deadline = Date.now() + 30_000;
        while ((await db.subscription.findUniqueOrThrow({ where: { customerId: id } })).planId !== 'pro') {
          if (Date.now() > deadline) throw new Error('the held upgrade was not applied');
          await sleep(100);
        }
        return id;
      },
      'stripe-downgrade-refund': async () => {
        freshStripe();
        stripeProxy.inject({ ...paidAnswer, respond: (context: RespondContext) => {
          const answer = paidAnswer.respond(context);
          return { ...answer, json: { ...(answer.json as object), payments: { object: 'list', data: [{ payment: { type: 'payment_intent', payment_intent: 'pi_h_refund' } }] } } };
        } });
        const id = await customer(stripeApi, 'h-stripe-refund', 'pro');
        await must(stripeApi('POST', `/v1/customers/${id}/subscription/change`, { plan: 'free' }));
        const deadline = Date.now() + 30_000;
        while ((await db.invoice.count({ where: { customerId: id, reason: 'refund' } })) === 0) {
          if (Date.now() > deadline) throw new Error('the credit was not refunded');
          await sleep(100);
        }
        return id;
      },
      'stripe-checkout-first-invoice': async () => {
        // No saved card for this one: the first invoice goes to a Checkout page, paid by its webhook.
        freshStripe(false);
        const id = await customer(stripeApi, 'h-stripe-checkout', 'pro');
        const invoice = await db.invoice.findFirstOrThrow({ where: { customerId: id } });
        await webhook(stripeApi, { id: 'evt_h_checkout', type: 'checkout.session.completed', object: { id: 'cs_h_1', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_h_1', metadata: { tollgate_invoice_id: invoice.id, tollgate_customer_id: id } } });
        const deadline = Date.now() + 30_000;
        while ((await db.subscription.findUniqueOrThrow({ where: { customerId: id } })).status !== 'active') {
          if (Date.now() > deadline) throw new Error('the checkout did not complete');
          await sleep(100);
        }
        return id;
      },
      'credits-purchase-and-recharge': async () => {
        freshStripe();
        stripeProxy.inject({ ...paidAnswer, times: Number.POSITIVE_INFINITY });
        const id = await customer(creditsApi, 'h-credits', 'personal');
        await must(creditsApi('POST', `/v1/customers/${id}/credits/purchases`, { packId: 'standard' }));
        await must(creditsApi('PUT', `/v1/customers/${id}/credits/auto-recharge`, { enabled: true, packId: 'starter', threshold: '2000000' }));
        await must(creditsApi('POST', '/v1/usage/events', tokenEvent(id, 1_800_000, 'h-credits-1')));
        await until('the recharge', async () => (await db.invoice.count({ where: { customerId: id, reason: 'credit_recharge', status: 'paid' } })) > 0);
        return id;
      },
      'credits-checkout-webhook-refund': async () => {
        freshStripe(false);
        const id = await customer(creditsApi, 'h-credits-checkout', 'free');
        await must(creditsApi('POST', `/v1/customers/${id}/credits/purchases`, { packId: 'pro' }), [202]);
        const invoice = await db.invoice.findFirstOrThrow({ where: { customerId: id, reason: 'credit_purchase' } });
        await webhook(creditsApi, { id: 'evt_h_credits_checkout', type: 'checkout.session.completed', object: { id: 'cs_h_credits', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_h_credits', metadata: { tollgate_invoice_id: invoice.id, tollgate_customer_id: id } } });
        await webhook(creditsApi, { id: 'evt_h_credits_checkout', type: 'checkout.session.completed', object: { id: 'cs_h_credits', object: 'checkout.session', mode: 'payment', payment_status: 'paid', payment_intent: 'pi_h_credits', metadata: { tollgate_invoice_id: invoice.id, tollgate_customer_id: id } } });
        await until('the checkout', async () => (await db.invoice.findUniqueOrThrow({ where: { id: invoice.id } })).status === 'paid');
        const purchase = await db.creditPurchase.findFirstOrThrow({ where: { invoiceId: invoice.id } });
        await must(creditsApi('POST', `/v1/customers/${id}/credits/purchases/${purchase.id}/refund`, { reason: 'recorded' }));
        return id;
      },
      'credits-recharge-declined-off': async () => {
        freshStripe();
        stripeProxy.inject({ ...paidAnswer, times: 1 });
        const id = await customer(creditsApi, 'h-credits-declined', 'personal');
        stripeProxy.inject({ method: 'POST', path: /^\/v1\/invoices\/[^/]+\/pay$/, error: 'card_declined', times: Number.POSITIVE_INFINITY });
        await must(creditsApi('POST', `/v1/customers/${id}/credits/grants`, { credits: '600000', type: 'promotional', reason: 'recorded' }));
        await must(creditsApi('PUT', `/v1/customers/${id}/credits/auto-recharge`, { enabled: true, packId: 'starter', threshold: '500000' }));
        await must(creditsApi('POST', '/v1/usage/events', tokenEvent(id, 1_200_000, 'h-declined-1')));
        await until('auto-recharge off', async () => (await db.creditAccount.findFirst({ where: { customerId: id } }))?.autoRecharge === false);
        return id;
      },
      'credits-without-provider': async () => {
        // No provider: the purchase waits for an operator's mark-paid; a grant; usage drawing both.
        const id = await customer(seatApi, 'h-credits-none', 'personal');
        const bought = await must(seatApi('POST', `/v1/customers/${id}/credits/purchases`, { packId: 'standard' }), [202]);
        const number = (bought.body as { purchase: { invoiceNumber: string } }).purchase.invoiceNumber;
        await must(seatApi('POST', `/v1/customers/${id}/invoices/${number}/mark-paid`, { reference: 'recorded' }));
        await must(seatApi('POST', `/v1/customers/${id}/credits/grants`, { credits: '1000', type: 'promotional', reason: 'recorded' }));
        await must(seatApi('POST', '/v1/usage/events', tokenEvent(id, 1_500_000, 'h-none-1')));
        return id;
      },
      'credits-pending-purchase-renewal': async () => {
        // A Checkout purchase still waiting when the cycle ends: the next run carries it.
        freshStripe(false);
        const id = await customer(creditsApi, 'h-credits-renew', 'free', 4_000);
        await must(creditsApi('POST', `/v1/customers/${id}/credits/purchases`, { packId: 'starter' }), [202]);
        await waitForRuns(id, 2);
        return id;
      },
      'concurrent-racing-renewal': async () => {
        const id = await customer(api, 'h-concurrent', 'basic', 2_500);
        const requests: Array<[string, unknown?]> = [
          ['change', { plan: 'pro' }], ['cancel'], ['change', { plan: 'enterprise' }], ['reactivate'],
          ['change', { interval: 'yearly' }], ['change', { plan: 'basic' }], ['cancel'], ['change', { plan: 'free' }],
        ];
        // Two waves: one at once, one as the cycle ends.
        const wave = () => Promise.all(requests.map(([route, body]) => api('POST', `/v1/customers/${id}/subscription/${route}`, body)));
        await wave();
        await sleep(2_000);
        await wave();
        await waitForRuns(id, 2);
        return id;
      },
      // Issue 15: the seats-eur change rules. A period-end downgrade previewed and sent with the
      // catalog version, withdrawn (the cycle's downgrade given back), scheduled again, then a
      // change previewed under another version refused, and the renewal applying the downgrade.
      'change-rules': async () => {
        const id = await customer(seatApi, 'h-rules', 'business', 5_000);
        const change = `/v1/customers/${id}/subscription/change`;
        const preview = (await must(seatApi('GET', `/v1/customers/${id}/subscription/change-preview?plan=team`))).body as { catalogVersion: string };
        await must(seatApi('POST', change, { plan: 'team', catalogVersion: preview.catalogVersion }));
        await must(seatApi('POST', change, { plan: 'business', seats: 10 }));
        await must(seatApi('POST', change, { plan: 'team' }));
        await must(seatApi('POST', change, { seats: 12, catalogVersion: '0000000000000000' }), [409]);
        await waitForRuns(id, 2);
        return id;
      },
      // Issue 14: a customer on a test clock, advanced through an upgrade and two renewals.
      'test-clock': async () => {
        const clock = (await must(api('POST', '/v1/test-clocks', { frozenTime: '2027-01-01T00:00:00Z', name: 'histories' }))).body as { id: string };
        const id = await customer(api, 'h-clock', 'pro', undefined, { testClock: clock.id });
        await must(api('POST', '/v1/usage/events', { customerId: id, metric: 'api_calls', quantity: 250_000, idempotencyKey: 'clock-1' }));
        await must(api('POST', `/v1/test-clocks/${clock.id}/advance`, { frozenTime: '2027-01-11T00:00:00Z' }));
        await must(api('POST', `/v1/customers/${id}/subscription/change`, { plan: 'enterprise' }));
        await must(api('POST', '/v1/usage/events', { customerId: id, metric: 'api_calls', quantity: 1_000_000, idempotencyKey: 'clock-2' }));
        await must(api('POST', `/v1/test-clocks/${clock.id}/advance`, { frozenTime: '2027-03-05T00:00:00Z' }));
        await waitForRuns(id, 3);
        return id;
      },
    };

    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    for (const [name, run] of Object.entries(scenarios)) {
      const id = await run();
      if (name !== 'alert-handed-over') await idle(id);
      // Oldest run first; every run of the subscription is a history of its own.
      const runs = await runHistories(client, id);
      for (const [n, { history }] of runs.entries()) {
        const file = path.join(outDir, `${name}${runs.length > 1 ? `.run${n + 1}` : ''}.json`);
        writeFileSync(file, `${historyToJSON(history)}\n`);
        process.stdout.write(`${path.relative(process.cwd(), file)}  (${history.events?.length ?? 0} events)\n`);
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await temporal.stop();
    await postgres.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`record: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
