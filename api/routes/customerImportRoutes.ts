/**
 * POST /v1/customers/import: many customers in one request, each as POST /v1/customers would
 * create it (with its period under way and its usage so far), with one result per customer.
 *
 * In order: the whole body is checked (a malformed one changes nothing); each customer is checked
 * against the catalog (a problem is that customer's `failed` result); the rows of all the others
 * are written set-based in one transaction (store/customerImport.ts); then their workflows are
 * started, a bounded number at a time. A new customer whose start failed and whose workflow
 * describe() does not find has its rows removed again (`failed`, `temporal_unavailable`), as
 * POST /v1/customers does. A start refused because the workflow already exists counts as started.
 *
 * Re-running an import is safe: a customer that already exists on the same plan is `exists`, and
 * if its rows are untouched since they were written (version 1: the workflow has never written to
 * them) its workflow is started when missing — which finishes an import cut short between its
 * commit and its workflow starts (a crash, a lost connection).
 *
 * No first-payment Update is sent (POST /v1/customers sends one with a payment provider): an
 * imported customer with `periodStart` has paid its current period elsewhere (the workflow issues
 * no invoice for it), and one without gets its first invoice issued and collected by its workflow
 * without the import waiting for the payment.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Router } from 'express';
import { snapshotOfInput } from '../../store/customerStore.js';
import { deleteImportedCustomers, insertImportedCustomers, type ImportedCustomer } from '../../store/customerImport.js';
import type { SubscriptionRecord } from '../../store/subscriptionStore.js';
import { subscriptionWorkflowId, type SubscriptionInput } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { checkAgainstCatalog } from '../customers/customerCatalogCheck.js';
import type { CustomerRoutesDeps } from './customerRoutes.js';
import { parseImportBody, type ImportCustomer } from '../customers/importSchemas.js';
import { startSubscriptionWorkflow } from '../temporal/startSubscriptionWorkflow.js';

/**
 * Workflow starts in flight at once. Measured on the dev server (2 cores, 1,000 customers per
 * import, alternating runs): 64 imports about 25% faster than 32, and 128 no faster than 64. It
 * stays below the 100 concurrent streams a gRPC server commonly allows on the connection the
 * API's other Temporal calls share.
 */
export const IMPORT_START_CONCURRENCY = 64;

/** As POST /v1/customers' routes, plus how many workflow starts an import keeps in flight. */
export interface CustomerImportRoutesDeps extends CustomerRoutesDeps {
  /** Workflow starts in flight at once (default IMPORT_START_CONCURRENCY). */
  startConcurrency?: number;
}

export type ImportResultCode =
  | 'unknown_plan' | 'interval_not_offered' | 'invalid_seats' | 'invalid_period_start' | 'unknown_metric'
  | 'customer_exists' | 'stripe_customer_taken' | 'temporal_unavailable';

export interface ImportResult {
  id: string;
  status: 'created' | 'exists' | 'failed';
  code?: ImportResultCode;
  message?: string;
  subscription?: ReturnType<typeof subscriptionSummary>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The small view of a subscription an import answers with (GET …/subscription has the usage card). */
function subscriptionSummary(s: Pick<SubscriptionRecord, 'planId' | 'interval' | 'seats' | 'status' | 'periodStart' | 'periodEnd' | 'cycleStart' | 'cycleEnd'>) {
  return {
    plan: s.planId,
    interval: s.interval,
    seats: s.seats,
    status: s.status,
    currentPeriod: { start: iso(s.periodStart), end: iso(s.periodEnd) },
    currentCycle: { start: iso(s.cycleStart), end: iso(s.cycleEnd) },
  };
}

/** Runs `work` on every item, at most `limit` at a time. */
async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** started: the workflow exists (whoever started it); failed: Temporal did not confirm one. */
type StartOutcome = { kind: 'started' } | { kind: 'failed'; error: unknown };

/** The first input the workflow of an untouched stored subscription (version 1) was to start with. */
function inputOfStoredRow(base: SubscriptionInput, stored: SubscriptionRecord): SubscriptionInput {
  return {
    ...base,
    planId: stored.planId,
    interval: stored.interval,
    seats: stored.seats,
    periodStart: stored.periodStart,
    periodEnd: stored.periodEnd,
    cycleStart: stored.cycleStart,
    cycleEnd: stored.cycleEnd,
    cancelAtPeriodEnd: stored.cancelAtPeriodEnd,
    creditOwedMinor: stored.creditOwedMinor,
    version: stored.version,
  };
}

/** Whether a stored subscription is the one this customer's import writes (ignoring when "now" was, for an import without periodStart). */
function isThisImport(stored: SubscriptionRecord, customer: ImportCustomer, input: SubscriptionInput): boolean {
  return stored.version === 1 && stored.planId === input.planId && stored.interval === input.interval && stored.seats === input.seats
    && (customer.periodStart === undefined || stored.periodStart === input.periodStart);
}

export function customerImportRoutes(deps: CustomerImportRoutesDeps): Router {
  const { db, temporal, catalog, logger } = deps;
  const now = deps.now ?? Date.now;
  const concurrency = Math.max(1, deps.startConcurrency ?? IMPORT_START_CONCURRENCY);
  const router = Router();

  const start = async (input: SubscriptionInput): Promise<StartOutcome> => {
    try {
      await startSubscriptionWorkflow(temporal, deps.taskQueue, input);
      return { kind: 'started' };
    } catch (error) {
      // One start per id, ever: an earlier run of this import (or a concurrent one) started it.
      if (error instanceof WorkflowExecutionAlreadyStartedError) return { kind: 'started' };
      // A timeout may hide a start the server did accept: only undo when no workflow exists, or
      // it would run without its customer row (as POST /v1/customers decides).
      const started = await temporal.workflow.getHandle(subscriptionWorkflowId(input.customerId)).describe().then(() => true, () => false);
      return started ? { kind: 'started' } : { kind: 'failed', error };
    }
  };

  router.post('/v1/customers/import', async (req, res) => {
    const began = performance.now();
    const { customers } = parseImportBody(req.body);
    const at = now();
    const paymentProvider = deps.paymentProvider ?? 'none';
    const results: ImportResult[] = new Array(customers.length);
    const failed = (index: number, code: ImportResultCode, message: string) => {
      results[index] = { id: customers[index]!.id, status: 'failed', code, message };
    };

    // Each customer against the catalog; the others become rows and a workflow input.
    const planned: Array<{ index: number; row: ImportedCustomer }> = [];
    customers.forEach((customer, index) => {
      const check = checkAgainstCatalog(catalog, customer, at);
      if (!check.ok) return failed(index, check.code, check.message);
      const successUrl = customer.checkout?.successUrl ?? deps.returnUrls?.checkoutSuccess;
      const cancelUrl = customer.checkout?.cancelUrl ?? deps.returnUrls?.checkoutCancel;
      const input = newSubscriptionInput({
        catalog, customerId: customer.id, planId: customer.plan, interval: customer.interval, seats: check.seats,
        importedPeriodStart: check.importedPeriodStart, now: at, paymentProvider,
        ...(paymentProvider !== 'none' && successUrl && cancelUrl ? { checkoutUrls: { successUrl, cancelUrl } } : {}),
      });
      planned.push({
        index,
        row: {
          customer: { id: customer.id, name: customer.name, email: customer.email, ...(customer.stripeCustomerId ? { providerCustomerId: customer.stripeCustomerId } : {}) },
          input,
          usage: Object.entries(customer.usage ?? {}).map(([metric, used]) => ({ metric, used: BigInt(used) })),
        },
      });
    });

    const outcomes = await insertImportedCustomers(db, planned.map((p) => p.row));
    const written = performance.now();

    // Workflows to start: every new customer's, and an existing one's still untouched since its import.
    const starts: Array<{ index: number; input: SubscriptionInput; fresh: boolean; outcome?: StartOutcome }> = [];
    for (const { index, row } of planned) {
      const customer = customers[index]!;
      const outcome = outcomes.get(row.customer.id);
      if (outcome?.status === 'inserted') {
        results[index] = { id: customer.id, status: 'created', subscription: subscriptionSummary(snapshotOfInput(row.input)) };
        starts.push({ index, input: row.input, fresh: true });
      } else if (outcome?.status === 'existing' && outcome.subscription?.planId === customer.plan) {
        results[index] = { id: customer.id, status: 'exists', subscription: subscriptionSummary(outcome.subscription) };
        if (isThisImport(outcome.subscription, customer, row.input)) {
          // Started on the catalog its row was written with (the first import's), even if the API's was reloaded since.
          const own = await deps.catalogs.forVersion(outcome.subscription.catalogVersion);
          starts.push({ index, input: { ...inputOfStoredRow(row.input, outcome.subscription), ...(own ? { catalog: own } : {}) }, fresh: false });
        }
      } else if (outcome?.status === 'provider_customer_taken') {
        failed(index, 'stripe_customer_taken', `Stripe customer ${customer.stripeCustomerId} already belongs to another customer.`);
      } else {
        failed(index, 'customer_exists', `A customer with id "${customer.id}" already exists${outcome?.status === 'existing' && outcome.subscription ? ` on the ${outcome.subscription.planId} plan` : ''}.`);
      }
    }

    await forEachBounded(starts, concurrency, async (item) => {
      item.outcome = await start(item.input);
    });
    const startsDone = performance.now();

    // New customers whose workflow did not start: their rows go again (nothing was created).
    const notStarted = starts.filter((s) => s.fresh && s.outcome?.kind === 'failed').map((s) => s.input.customerId);
    const removed = await deleteImportedCustomers(db, notStarted);
    const unstarted = starts.filter((s) => s.outcome?.kind === 'failed');
    if (unstarted.length > 0) {
      const first = unstarted[0]!.outcome as Extract<StartOutcome, { kind: 'failed' }>;
      logger.error({ err: first.error, count: unstarted.length, customerIds: unstarted.slice(0, 10).map((s) => s.input.customerId) }, 'import: could not start subscription workflows');
    }
    for (const item of unstarted) {
      const id = item.input.customerId;
      failed(item.index, 'temporal_unavailable', removed.has(id)
        ? 'The subscription could not be started; nothing was created for this customer. Import it again shortly.'
        : 'The customer is stored but its subscription workflow could not be started. Run the same import again shortly: it starts the workflow when it is missing.');
    }

    const count = (status: ImportResult['status']) => results.filter((r) => r.status === status).length;
    const summary = { created: count('created'), existing: count('exists'), failed: count('failed') };
    const ms = (from: number, to: number) => Math.round(to - from);
    logger.info({ customers: customers.length, ...summary, ms: ms(began, performance.now()), writeMs: ms(began, written), startMs: ms(written, startsDone), startConcurrency: concurrency }, 'customers imported');
    res.json({ results, ...summary });
  });

  return router;
}
