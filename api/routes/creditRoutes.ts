/**
 * Prepaid credits (issue 10): the balance and what this cycle consumed, the history, purchases
 * (through the subscription workflow: an Update, so a purchase is charged once and granted once),
 * operators' grants, and auto-recharge settings.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Router, type Request } from 'express';
import type { z } from 'zod';
import type { Catalog } from '../../billing/catalog.js';
import { findPack, formatCredits, packPriceMinor, parseCredits, requireCreditUnit, creditUnitOf } from '../../billing/creditPricing.js';
import { formatMinor, moneyView, parseMinor } from '../../billing/money.js';
import { defaultSpendingLimitMinor } from '../../billing/autoRecharge.js';
import { catalogThresholdNanos } from '../../store/creditLedger.js';
import { consumptionOfCycle, creditAccountOf, creditHistory, grantCredits, rechargeSpentMinor, saveAutoRecharge } from '../../store/creditStore.js';
import type { Db } from '../../store/db.js';
import { buyCreditsUpdate, refundCreditsUpdate, type CreditPurchaseResult, type CreditRefundResult } from '../../workflows/messages.js';
import { autoRechargeBody, creditHistoryQuery, encodeHistoryCursor, creditParams, grantCreditsBody, purchaseCreditsBody, refundCreditsBody, refundParams } from '../credits/creditSchemas.js';
import { creditSummaryView, historyEntryView } from '../credits/creditViews.js';
import { ApiError, validationError } from '../errors.js';
import type { ReturnUrls } from '../payments/returnUrls.js';
import { ACCEPTED, executeSubscriptionUpdate, updateIdFor } from '../temporal/executeSubscriptionUpdate.js';

export interface CreditRoutesDeps {
  db: Db;
  temporal: Client;
  catalog: Catalog;
  paymentProvider?: 'none' | 'stripe';
  returnUrls?: ReturnUrls;
  logger?: Logger;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path'): T {
  if (where === 'body' && value === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

export function creditRoutes(deps: CreditRoutesDeps): Router {
  const { db, temporal, catalog } = deps;
  const router = Router();
  const currency = catalog.currency;
  const formatMoney = (minor: bigint) => formatMinor(minor, currency);

  /** The customer's subscription row (its cycle); 404 without one, and credits must be on offer. */
  const load = async (req: Request) => {
    // Routes under a purchase carry more path parameters; those are parsed where they are used.
    const { customerId } = parse(creditParams, { customerId: req.params.customerId }, 'path');
    const subscription = await db.subscription.findUnique({ where: { customerId }, select: { cycleStart: true, cycleEnd: true } });
    if (!subscription) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    if (!creditUnitOf(catalog)) throw new ApiError(404, 'credits_not_offered', 'This catalog sells no credits (add a "credits" section to it).');
    return { customerId, cycle: { start: subscription.cycleStart.getTime(), end: subscription.cycleEnd.getTime() } };
  };

  const summary = async (customerId: string, cycle: { start: number; end: number }) => {
    const unit = requireCreditUnit(catalog);
    const [account, consumption, spentMinor] = await Promise.all([
      creditAccountOf(db, customerId, unit.id),
      consumptionOfCycle(db, customerId, unit.id, cycle.start),
      rechargeSpentMinor(db, customerId, cycle.start),
    ]);
    return creditSummaryView({ catalog, unit, customerId, account, cycle, consumption, spentMinor });
  };

  router.get('/v1/customers/:customerId/credits', async (req, res) => {
    const { customerId, cycle } = await load(req);
    res.json(await summary(customerId, cycle));
  });

  router.get('/v1/customers/:customerId/credits/transactions', async (req, res) => {
    const query = parse(creditHistoryQuery, req.query, 'query');
    const { customerId } = await load(req);
    const unit = requireCreditUnit(catalog);
    const entries = await creditHistory(db, customerId, unit.id, {
      limit: query.limit + 1,
      ...(query.before ? { before: new Date(query.before) } : {}),
      ...(query.cursor ? { after: query.cursor } : {}),
    });
    const page = entries.slice(0, query.limit);
    const invoiceIds = [...new Set(page.flatMap((e) => (e.type !== 'consumption' && e.invoiceId ? [e.invoiceId] : [])))];
    const invoices = invoiceIds.length > 0 ? await db.invoice.findMany({ where: { id: { in: invoiceIds } }, select: { id: true, number: true } }) : [];
    const numbers = new Map(invoices.map((i) => [i.id, i.number]));
    const last = page.at(-1);
    res.json({
      unit: unit.name,
      data: page.map((e) => historyEntryView(e, unit, currency, numbers)),
      hasMore: entries.length > query.limit,
      // The next page: send it back as `cursor` (it names the last entry, ties included).
      nextCursor: entries.length > query.limit && last ? encodeHistoryCursor({ at: last.at, key: last.key }) : null,
    });
  });

  router.post('/v1/customers/:customerId/credits/purchases', async (req, res) => {
    const body = parse(purchaseCreditsBody, req.body, 'body');
    const { customerId, cycle } = await load(req);
    const checkout = body.checkout ?? (deps.returnUrls ? { successUrl: deps.returnUrls.checkoutSuccess, cancelUrl: deps.returnUrls.checkoutCancel } : undefined);
    const result = await executeSubscriptionUpdate<CreditPurchaseResult>({
      logger: deps.logger,
      temporal,
      customerId,
      updateId: updateIdFor(res, 'buy-credits'),
      start: (handle, updateId) => handle.startUpdate(buyCreditsUpdate, {
        updateId,
        waitForStage: ACCEPTED,
        args: [{ ...(body.packId !== undefined ? { packId: body.packId } : { amount: body.amount! }), ...(checkout && deps.paymentProvider !== 'none' ? { checkout } : {}) }],
      }),
    });
    const unit = requireCreditUnit(catalog);
    const purchase = {
      id: result.purchaseId,
      status: result.status,
      invoiceNumber: result.invoiceNumber,
      credits: formatCredits(BigInt(result.creditsNanos), unit, currency),
      unit: unit.name,
      amount: moneyView(BigInt(result.amountMinor), result.currency),
      checkoutUrl: result.checkoutUrl,
      payUrl: result.payUrl,
      expiresAt: result.expiresAt === null ? null : new Date(result.expiresAt).toISOString(),
      reason: result.reason,
    };
    if (result.status === 'payment_failed') {
      throw new ApiError(402, 'payment_required', `The card was declined for invoice ${result.invoiceNumber}: ${result.reason ?? 'the payment did not go through.'} Pay it on payUrl before expiresAt, or add a card; the credits come once it is paid.`, purchase);
    }
    res.status(result.status === 'paid' ? 200 : 202).json({ purchase, credits: await summary(customerId, cycle) });
  });

  router.post('/v1/customers/:customerId/credits/purchases/:purchaseId/refund', async (req, res) => {
    const body = parse(refundCreditsBody, req.body, 'body');
    const { purchaseId } = parse(refundParams, req.params, 'path');
    const { customerId, cycle } = await load(req);
    const result = await executeSubscriptionUpdate<CreditRefundResult>({
      logger: deps.logger,
      temporal,
      customerId,
      updateId: updateIdFor(res, 'refund-credits'),
      start: (handle, updateId) => handle.startUpdate(refundCreditsUpdate, { updateId, waitForStage: ACCEPTED, args: [{ purchaseId, reason: body.reason }] }),
    });
    const unit = requireCreditUnit(catalog);
    res.json({
      refund: {
        purchaseId: result.purchaseId,
        credits: formatCredits(BigInt(result.creditsNanos), unit, currency),
        unit: unit.name,
        amount: moneyView(BigInt(result.amountMinor), result.currency),
        providerRefundId: result.providerRefundId,
        creditNoteNumber: result.creditNoteNumber,
      },
      credits: await summary(customerId, cycle),
    });
  });

  router.post('/v1/customers/:customerId/credits/grants', async (req, res) => {
    const body = parse(grantCreditsBody, req.body, 'body');
    const { customerId, cycle } = await load(req);
    const unit = requireCreditUnit(catalog);
    const creditsNanos = parseCredits(body.credits);
    // The grant is named by the request's Idempotency-Key (its operation): a retry grants nothing more.
    const grantId = updateIdFor(res, 'credit-grant');
    const threshold = catalogThresholdNanos(catalog);
    const result = await db.$transaction((tx) => grantCredits(tx, {
      customerId, unit: unit.id, kind: 'grant', creditsNanos, reference: `grant:${grantId}`, grantType: body.type, reason: body.reason,
      ...(threshold !== undefined ? { defaultThresholdNanos: threshold } : {}),
    }));
    res.status(201).json({
      grant: { id: grantId, type: body.type, reason: body.reason, credits: formatCredits(result.creditsNanos, unit, currency), unit: unit.name, balanceAfter: formatCredits(result.balanceNanos, unit, currency) },
      credits: await summary(customerId, cycle),
    });
  });

  router.put('/v1/customers/:customerId/credits/auto-recharge', async (req, res) => {
    const body = parse(autoRechargeBody, req.body, 'body');
    const { customerId, cycle } = await load(req);
    const unit = requireCreditUnit(catalog);
    const pack = body.packId ? findPack(catalog.credits!, body.packId) : undefined;
    if (body.packId && !pack) throw new ApiError(422, 'unknown_pack', `There is no credit pack "${body.packId}". Packs: ${catalog.credits!.packs.map((p) => p.id).join(', ') || 'none'}.`);
    let spendingLimitMinor: bigint | null = null;
    if (body.spendingLimit !== undefined && body.spendingLimit !== null) {
      try {
        spendingLimitMinor = parseMinor(body.spendingLimit, currency);
      } catch {
        throw new ApiError(422, 'invalid_amount', `spendingLimit "${body.spendingLimit}" has more decimal places than ${currency} allows.`);
      }
    }
    const thresholdNanos = body.threshold === undefined || body.threshold === null ? null : parseCredits(body.threshold);
    if (body.enabled) {
      if ((deps.paymentProvider ?? 'none') === 'none') throw new ApiError(409, 'payment_provider_required', 'Auto-recharge charges a card: it needs a payment provider (PAYMENT_PROVIDER=stripe). Operators can grant credits instead.');
      if (!pack) throw new ApiError(422, 'pack_required', 'Say which pack a recharge buys: "packId".');
      if (thresholdNanos === null && catalogThresholdNanos(catalog) === undefined) throw new ApiError(422, 'threshold_required', 'Say under which balance to recharge: "threshold" (this catalog has no lowBalanceThreshold).');
      if (thresholdNanos === 0n) throw new ApiError(422, 'threshold_required', 'A threshold of 0 never triggers a recharge: credits are never negative.');
      const limit = spendingLimitMinor ?? defaultSpendingLimitMinor(catalog);
      if (limit < packPriceMinor(pack, currency)) {
        throw new ApiError(422, 'spending_limit_below_pack', `The ${pack.name} pack costs ${pack.price} ${currency}, more than the spending limit of ${formatMoney(limit)} ${currency}: no recharge could ever happen.`);
      }
    }
    await saveAutoRecharge(db, customerId, unit.id, { enabled: body.enabled, thresholdNanos, packId: pack?.id ?? null, spendingLimitMinor }, catalogThresholdNanos(catalog));
    res.json(await summary(customerId, cycle));
  });

  return router;
}
