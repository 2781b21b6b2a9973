/**
 * Customers and their subscription: create (starts the workflow), read the usage card, cancel,
 * reactivate, list invoices. Writes that change a subscription go through the workflow's Updates,
 * so the workflow is the one place that decides; reads come from the Postgres read model.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { Router, type Request } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Catalog } from '../../billing/catalog.js';
import type { LiveCatalog } from '../catalog/liveCatalog.js';
import { Prisma } from '../../generated/prisma/client.js';
import type { Db } from '../../store/db.js';
import { deleteCustomer, insertCustomer } from '../../store/customerStore.js';
import { snapshotOfRow, type SubscriptionRecord } from '../../store/subscriptionStore.js';
import { usageOfCycle } from '../../store/usageReads.js';
import { draftInvoice } from '../../billing/invoiceDraft.js';
import { cancelUpdate, firstPaymentUpdate, reactivateUpdate, subscriptionWorkflowId, type FirstPayment, type SubscriptionInput, type SubscriptionSnapshot } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { ApiError, validationError } from '../errors.js';
import { checkAgainstCatalog } from '../customers/customerCatalogCheck.js';
import { createCustomerBody, customerParams, listInvoicesQuery } from '../schemas.js';
import { ACCEPTED, executeSubscriptionUpdate, updateIdFor } from '../temporal/executeSubscriptionUpdate.js';
import { startSubscriptionWorkflow } from '../temporal/startSubscriptionWorkflow.js';
import { firstPaymentView, invoiceView, subscriptionView } from '../views.js';
import { creditBalanceNanos } from '../../store/creditStore.js';
import type { ReturnUrls } from '../payments/returnUrls.js';
import { findTestClock, TestClockError } from '../../store/testClockStore.js';
import { testClocksDisabled } from './testClockRoutes.js';

export interface CustomerRoutesDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  catalog: Catalog;
  /** The catalogs subscriptions hold, by version (the usage card shows a plan as its subscription's catalog prices it). */
  catalogs: LiveCatalog;
  logger: Logger;
  now?: () => number;
  /** The payment provider this API runs with: with one, a new paid subscription's answer says how its first invoice is paid. */
  paymentProvider?: 'none' | 'stripe';
  /** Default Checkout return pages (the request may name its own). */
  returnUrls?: ReturnUrls;
  /** TOLLGATE_TEST_CLOCKS: whether a customer may be put on a test clock. */
  testClocks?: boolean;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path'): T {
  if (where === 'body' && value === undefined) {
    throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  }
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

/** Whether a new subscription's first period costs anything (the workflow then invoices and collects it). */
function firstPeriodCharges(catalog: Catalog, input: SubscriptionInput): boolean {
  return draftInvoice({
    catalog, customerId: input.customerId, reason: 'subscription_create', planId: input.planId, interval: input.interval, seats: input.seats,
    period: { start: input.periodStart, end: input.periodEnd },
  }) !== undefined;
}

export function customerRoutes(deps: CustomerRoutesDeps): Router {
  const { db, temporal, catalog, logger } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();
  // The plan as the subscription's own catalog prices it (an edited catalog reaches it at a renewal).
  const card = async (record: SubscriptionRecord) => subscriptionView((await deps.catalogs.forVersion(record.catalogVersion)) ?? catalog, record, await usageOfCycle(db, record.customerId, record.cycleStart), await creditBalanceNanos(db, catalog, record.customerId));

  /**
   * The test clock a new customer joins, for its instant: it must exist and be at rest before the
   * request is judged at that instant (the insert checks again, under the clock's lock).
   */
  const clockToJoin = async (clockId: string) => {
    if (!deps.testClocks) throw testClocksDisabled();
    const clock = await findTestClock(db, clockId);
    if (!clock || clock.status === 'deleted') throw new ApiError(404, 'test_clock_not_found', `No test clock "${clockId}".`);
    if (clock.status === 'advancing') throw new ApiError(409, 'test_clock_advancing', `Test clock "${clockId}" is advancing; add the customer once it has caught up.`);
    return clock;
  };

  router.post('/v1/customers', async (req, res) => {
    const body = parse(createCustomerBody, req.body, 'body');
    // On a test clock, the subscription starts at the clock's instant (issue 14).
    const clock = body.testClock === undefined ? undefined : await clockToJoin(body.testClock);
    const startAt = clock?.frozenTime ?? now();
    const check = checkAgainstCatalog(catalog, body, startAt);
    if (!check.ok) throw new ApiError(422, check.code, check.message);
    const { seats, importedPeriodStart } = check;
    const paymentProvider = deps.paymentProvider ?? 'none';
    const checkoutUrls = paymentProvider === 'none' ? undefined : {
      successUrl: body.checkout?.successUrl ?? deps.returnUrls?.checkoutSuccess,
      cancelUrl: body.checkout?.cancelUrl ?? deps.returnUrls?.checkoutCancel,
    };
    const input = newSubscriptionInput({
      catalog, customerId: body.id, planId: body.plan, interval: body.interval, seats, importedPeriodStart, now: startAt, paymentProvider,
      ...(clock ? { testClock: { id: clock.id, now: clock.frozenTime, target: clock.frozenTime } } : {}),
      ...(checkoutUrls?.successUrl && checkoutUrls.cancelUrl ? { checkoutUrls: { successUrl: checkoutUrls.successUrl, cancelUrl: checkoutUrls.cancelUrl } } : {}),
    });
    try {
      await insertCustomer(db, { id: body.id, name: body.name, email: body.email, ...(body.stripeCustomerId ? { providerCustomerId: body.stripeCustomerId } : {}) }, input);
    } catch (error) {
      if (error instanceof TestClockError) throw new ApiError(error.code === 'test_clock_not_found' ? 404 : 409, error.code, error.message);
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        const target = JSON.stringify(error.meta ?? {});
        if (target.includes('provider_customer_id')) throw new ApiError(409, 'stripe_customer_taken', `Stripe customer ${body.stripeCustomerId} already belongs to another customer.`);
        throw new ApiError(409, 'customer_exists', `A customer with id "${body.id}" already exists.`);
      }
      throw error;
    }
    try {
      await startSubscriptionWorkflow(temporal, deps.taskQueue, input);
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        // The workflow exists (it may write invoices for this id): the customer row stays with it.
        throw new ApiError(409, 'customer_exists', `A subscription workflow for "${body.id}" already exists.`);
      }
      // A timeout may hide a start the server did accept: only undo when no workflow exists, or it
      // would run without its customer row and the id could never be created again.
      const started = await temporal.workflow.getHandle(subscriptionWorkflowId(body.id)).describe().then(() => true, () => false);
      if (!started) {
        await deleteCustomer(db, body.id);
        logger.error({ err: error, customerId: body.id }, 'could not start the subscription workflow');
        throw new ApiError(503, 'temporal_unavailable', 'The subscription could not be started; nothing was created. Try again shortly.');
      }
    }
    // Its clock deleted while it joined (the deletion may have missed a workflow not started yet):
    // the customer ends with the clock.
    if (clock && (await findTestClock(db, clock.id))?.status === 'deleted') {
      await temporal.workflow.getHandle(subscriptionWorkflowId(body.id)).terminate(`test clock ${clock.id} deleted`).catch(() => undefined);
      throw new ApiError(404, 'test_clock_not_found', `Test clock "${clock.id}" was deleted as the customer joined it; the customer's subscription has ended with it.`);
    }
    // With a provider, a new paid subscription's first invoice is collected before the answer:
    // paid, or a Checkout page to pay it on (the subscription is `incomplete` until then).
    let payment: FirstPayment | undefined;
    if (paymentProvider !== 'none' && input.invoiceFirstPeriod && firstPeriodCharges(catalog, input)) {
      payment = await executeSubscriptionUpdate<FirstPayment>({
        logger,
        temporal,
        customerId: body.id,
        updateId: updateIdFor(res, 'first-payment'),
        start: (handle, updateId) => handle.startUpdate(firstPaymentUpdate, { updateId, waitForStage: ACCEPTED }),
      });
    }
    const row = await db.subscription.findUniqueOrThrow({ where: { customerId: body.id } });
    res.status(201).location(`/v1/customers/${encodeURIComponent(body.id)}/subscription`).json({
      customer: { id: body.id, name: body.name, email: body.email },
      subscription: await card(snapshotOfRow(row)),
      payment: payment ? firstPaymentView(payment) : null,
    });
  });

  const customerIdOf = (req: Request) => parse(customerParams, req.params, 'path').customerId;

  // Who the customer is, e.g. for a billing page's header: so a person sees whose account a link opened.
  router.get('/v1/customers/:customerId', async (req, res) => {
    const customerId = customerIdOf(req);
    const customer = await db.customer.findUnique({ where: { id: customerId }, select: { id: true, name: true, email: true } });
    if (!customer) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    res.json(customer);
  });

  router.get('/v1/customers/:customerId/subscription', async (req, res) => {
    const customerId = customerIdOf(req);
    const row = await db.subscription.findUnique({ where: { customerId } });
    if (!row) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    res.json(await card(snapshotOfRow(row)));
  });

  const update = (name: 'cancel' | 'reactivate', definition: typeof cancelUpdate | typeof reactivateUpdate) =>
    router.post(`/v1/customers/:customerId/subscription/${name}`, async (req, res) => {
      const customerId = customerIdOf(req);
      const exists = await db.customer.findUnique({ where: { id: customerId }, select: { id: true } });
      if (!exists) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
      const snapshot = await executeSubscriptionUpdate<SubscriptionSnapshot>({
        logger,
        temporal,
        customerId,
        updateId: updateIdFor(res, name),
        start: (handle, updateId) => handle.startUpdate(definition, { updateId, waitForStage: ACCEPTED }),
      });
      res.json(await card(snapshot));
    });
  update('cancel', cancelUpdate);
  update('reactivate', reactivateUpdate);

  router.get('/v1/customers/:customerId/invoices', async (req, res) => {
    const customerId = customerIdOf(req);
    const { limit } = parse(listInvoicesQuery, req.query, 'query');
    const exists = await db.customer.findUnique({ where: { id: customerId }, select: { id: true } });
    if (!exists) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    const invoices = await db.invoice.findMany({
      where: { customerId },
      orderBy: [{ periodStart: 'desc' }, { number: 'desc' }],
      take: limit + 1,
      include: { lines: { orderBy: { position: 'asc' } } },
    });
    res.json({ data: invoices.slice(0, limit).map(invoiceView), hasMore: invoices.length > limit });
  });

  return router;
}
