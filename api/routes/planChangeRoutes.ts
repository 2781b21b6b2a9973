/**
 * Plan changes: POST …/subscription/change applies one through the workflow (which decides), GET
 * …/subscription/change-preview answers what the same change would cost or credit and whether it
 * is allowed, changing nothing. Both use billing/planChange.ts; the API measures usage so far
 * (it lives in PostgreSQL, not in the workflow) and sends it with the update.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { INTERVALS, MAX_SEATS, type Catalog } from '../../billing/catalog.js';
import { moneyView } from '../../billing/money.js';
import { applyCredit, planChangeInvoice } from '../../billing/invoiceDraft.js';
import { evaluatePlanChange, planChangeStateOf } from '../../billing/planChange.js';
import { CATALOG_VERSION_PATTERN } from '../../billing/catalogVersion.js';
import type { LiveCatalog } from '../catalog/liveCatalog.js';
import { subscriptionCatalogOf } from '../catalog/subscriptionCatalog.js';
import type { Db } from '../../store/db.js';
import { snapshotOfRow, type SubscriptionRecord } from '../../store/subscriptionStore.js';
import { usageOfCycle } from '../../store/usageReads.js';
import { changePlanUpdate, type ChangePlanResult } from '../../workflows/messages.js';
import { ApiError, validationError } from '../errors.js';
import { customerParams, decimalInteger, safeText } from '../schemas.js';
import { ACCEPTED, executeSubscriptionUpdate, updateIdFor } from '../temporal/executeSubscriptionUpdate.js';
import { subscriptionView } from '../views.js';
import { creditBalanceNanos } from '../../store/creditStore.js';
import type { CustomerTime } from '../testClocks/customerTime.js';

const catalogVersion = z.string().regex(CATALOG_VERSION_PATTERN, 'must be the catalogVersion a change preview answered with (16 hex digits)');

export const changePlanBody = z.strictObject({
  plan: safeText().min(1).max(100).optional(),
  interval: z.enum(INTERVALS).optional(),
  seats: z.number().int().positive().max(MAX_SEATS).optional(),
  /** From the preview: the change is refused (catalog_changed) if the subscription's catalog is another by now. */
  catalogVersion: catalogVersion.optional(),
}).refine((b) => b.plan !== undefined || b.interval !== undefined || b.seats !== undefined, 'give at least one of plan, interval, seats');

const previewQuery = z.strictObject({
  plan: safeText().min(1).max(100).optional(),
  interval: z.enum(INTERVALS).optional(),
  seats: decimalInteger(1, MAX_SEATS).optional(),
});

export function planChangeRoutes(deps: {
  db: Db;
  temporal: Client;
  /** The API's current catalog (views of the subscription). */
  catalog: Catalog;
  /** Where the catalog a subscription's workflow holds is found by version: the preview decides with it. */
  catalogs: LiveCatalog;
  now?: () => number;
  logger?: Logger;
  /** A customer on a test clock is previewed at its clock's instant. */
  time?: CustomerTime;
}): Router {
  const { db, temporal, catalog } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  const customerIdOf = (req: Request) => {
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    return params.data.customerId;
  };
  const load = async (req: Request) => {
    const customerId = customerIdOf(req);
    const row = await db.subscription.findUnique({ where: { customerId } });
    if (!row) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    const record = snapshotOfRow(row);
    return { record, usage: await usageOfCycle(db, record.customerId, record.cycleStart) };
  };
  const money = (minor: bigint) => moneyView(minor, catalog.currency);

  router.post('/v1/customers/:customerId/subscription/change', async (req, res) => {
    if (req.body === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
    const body = changePlanBody.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'body');
    const result = await executeSubscriptionUpdate<ChangePlanResult>({
      logger: deps.logger,
      temporal,
      customerId: customerIdOf(req),
      updateId: updateIdFor(res, 'change'),
      // Usage is measured for each attempt: a renewal in between makes the previous one stale.
      start: async (handle, updateId) => {
        const { record, usage } = await load(req);
        return handle.startUpdate(changePlanUpdate, {
          updateId,
          waitForStage: ACCEPTED,
          args: [{
            planId: body.data.plan,
            interval: body.data.interval,
            seats: body.data.seats,
            usage: Object.fromEntries([...usage].map(([metric, used]) => [metric, used.toString()])),
            usageCycleStart: record.cycleStart,
            ...(body.data.catalogVersion !== undefined ? { catalogVersion: body.data.catalogVersion } : {}),
          }],
        });
      },
      // The renewal that made usage stale writes the read model within moments: measure again after it.
      retryRefusal: (code, attempt) => code === 'stale_usage' && attempt < 5,
    });
    const net = BigInt(result.netMinor);
    if (result.applied === false) {
      // Declined, or the bank wants the customer to authenticate: nothing changed yet. The upgrade
      // waits for its invoice to be paid (on payUrl, or by a new card) until expiresAt.
      const payment = result.payment;
      throw new ApiError(402, 'payment_required', `The ${result.kind.replace('_', ' ')} waits for invoice ${result.invoiceNumber} to be paid: ${payment?.reason ?? 'the payment did not go through.'}`, {
        invoiceNumber: result.invoiceNumber,
        amount: money(BigInt(result.chargedMinor ?? '0')),
        payUrl: payment?.hostedInvoiceUrl ?? null,
        declineCode: payment?.code ?? null,
        expiresAt: result.expiresAt === undefined ? null : new Date(result.expiresAt).toISOString(),
        upgradeTo: { plan: body.data.plan ?? result.subscription.planId, interval: body.data.interval ?? result.subscription.interval, seats: body.data.seats ?? result.subscription.seats },
      });
    }
    // Runs from before the consistent-writes patch report only the net; their invoice took no credit into account in the answer.
    const charged = result.chargedMinor !== undefined ? BigInt(result.chargedMinor) : net > 0n ? net : 0n;
    const own = await deps.catalogs.forVersion(result.subscription.catalogVersion);
    res.json({
      subscription: subscriptionView(own ?? catalog, result.subscription, await usageOfCycle(db, result.subscription.customerId, result.subscription.cycleStart), await creditBalanceNanos(db, catalog, result.subscription.customerId)),
      change: {
        kind: result.kind,
        effective: result.effective,
        // The catalog the subscription decided with (absent from runs before catalog versions).
        catalogVersion: result.subscription.catalogVersion ?? null,
        charged: money(charged),
        credited: money(net < 0n ? -net : 0n),
        creditApplied: money(BigInt(result.creditAppliedMinor ?? '0')),
        invoiceNumber: result.invoiceNumber,
        // What collecting that invoice came to (a payment provider is configured), else null.
        payment: result.payment
          ? { status: result.payment.outcome, invoiceStatus: result.payment.status, code: result.payment.code ?? null, reason: result.payment.reason ?? null, hostedInvoiceUrl: result.payment.hostedInvoiceUrl ?? null }
          : null,
      },
    });
  });

  router.get('/v1/customers/:customerId/subscription/change-preview', async (req, res) => {
    const query = previewQuery.safeParse(req.query);
    if (!query.success) throw validationError(query.error, 'query');
    const { record, usage } = await load(req);
    const instant = deps.time ? await deps.time.nowFor(record.customerId) : now();
    // Decided with the catalog the subscription's workflow holds (it adopts an edited one only at a
    // renewal), so the change decides the same; its version goes back with the change. Only when
    // the workflow cannot say which (no worker answering) is it previewed with the current catalog,
    // unversioned.
    const own = await subscriptionCatalogOf({ catalogs: deps.catalogs, db, customerId: record.customerId, version: record.catalogVersion, temporal, logger: deps.logger });
    const decidedWith = own?.catalog ?? catalog;
    const answer = preview(decidedWith, record, usage, query.data, instant, (minor) => moneyView(minor, decidedWith.currency));
    res.json({ ...answer, catalogVersion: own?.version ?? null });
  });

  return router;
}

function preview(
  catalog: Catalog,
  record: SubscriptionRecord,
  usage: ReadonlyMap<string, bigint>,
  request: z.infer<typeof previewQuery>,
  now: number,
  money: (minor: bigint) => { amount: string; currency: string },
) {
  const decision = evaluatePlanChange({
    catalog,
    state: planChangeStateOf(record),
    request: { planId: request.plan, interval: request.interval, seats: request.seats },
    usage,
    now,
  });
  if (!decision.allowed) return { allowed: false, refusal: { code: decision.code, message: decision.message, details: decision.details ?? null } };
  const net = decision.proration.netMinor;
  // Priced by the very functions the change uses (SubscriptionEntity.applyChange): its invoice,
  // then the credit already owed paying part or all of it, so `charged` is what the card would pay.
  const invoice = planChangeInvoice({ customerId: record.customerId, currency: catalog.currency, lines: decision.proration.lines, changeVersion: 0, now, periodEnd: record.periodEnd });
  const owed = BigInt(record.creditOwedMinor);
  const credited = invoice ? applyCredit(invoice, owed) : undefined;
  const creditApplied = credited ? owed - credited.remainingMinor : 0n;
  const creditLine = credited?.draft.lines.find((line) => line.kind === 'credit');
  return {
    allowed: true,
    kind: decision.kind,
    effective: decision.effective,
    /** The catalog change rule that decided when it applies (its index in changeRules), or null for a built-in one. */
    rule: decision.rule,
    plan: decision.next.planId,
    interval: decision.next.interval,
    seats: decision.next.seats,
    period: { start: new Date(decision.proration.period.start).toISOString(), end: new Date(decision.proration.period.end).toISOString() },
    charged: money(credited ? BigInt(credited.draft.totalMinor) : 0n),
    credited: money(net < 0n ? -net : 0n),
    creditApplied: money(creditApplied),
    lines: [
      ...decision.proration.lines.map((line) => ({ kind: line.kind, description: line.description, amount: money(BigInt(line.amountMinor)) })),
      ...(creditLine ? [{ kind: creditLine.kind, description: creditLine.description, amount: money(BigInt(creditLine.amountMinor)) }] : []),
    ],
  };
}
