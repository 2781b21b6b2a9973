/**
 * What an invoice says, computed purely from the catalog and the subscription (so the workflow can
 * compute it deterministically and the activity only stores it). Amounts are decimal strings of
 * minor units in these drafts because they cross Temporal's JSON payloads; bigint inside.
 */
import { formatNanos, lineAmountMinor, minorDigits } from './money.js';
import { planPriceNanos, requirePlan, seatPriceNanos, type Catalog, type Interval } from './catalog.js';
import type { Span } from './period.js';

export type InvoiceLineKind = 'plan' | 'seats' | 'proration' | 'overage' | 'credit' | 'refund' | 'credits';
/**
 * `overage`: a cycle closed with overage but no period fee is due (mid-year cycles of yearly
 * plans). `refund`: a credit note — credit owed, refunded to the customer's card (negative total).
 * `credit_purchase` / `credit_recharge`: prepaid credits bought by the customer or by auto-recharge
 * (one `credits` line; the credits are granted when it is paid).
 */
export type InvoiceReason = 'subscription_create' | 'renewal' | 'overage' | 'plan_change' | 'refund' | 'credit_purchase' | 'credit_recharge';

export interface InvoiceLineDraft {
  kind: InvoiceLineKind;
  description: string;
  quantity: string;
  /** Exact unit price as a decimal string of the currency's major unit ("0.0005"). */
  unitPrice: string;
  /** Rounded once, in minor units, as a bigint string. */
  amountMinor: string;
  periodStart: number;
  periodEnd: number;
}

export interface InvoiceDraft {
  customerId: string;
  reason: InvoiceReason;
  currency: string;
  periodStart: number;
  periodEnd: number;
  lines: InvoiceLineDraft[];
  totalMinor: string;
  /** Business identity of the invoice: the same renewal always yields the same key (never a run id). */
  idempotencyKey: string;
  /** When it was issued on the subscription's test clock (epoch ms); absent on real time: when it is stored. */
  issuedAt?: number;
}

export function invoiceIdempotencyKey(customerId: string, reason: InvoiceReason, periodStart: number): string {
  return `invoice:${customerId}:${reason}:${new Date(periodStart).toISOString()}`;
}

/** The fee lines for a billing period: the plan price and any seats beyond those included. */
export function periodFeeLines(args: {
  catalog: Catalog;
  planId: string;
  interval: Interval;
  seats: number;
  period: Span;
}): InvoiceLineDraft[] {
  const { catalog, interval, period } = args;
  const plan = requirePlan(catalog, args.planId);
  const currency = catalog.currency;
  const lines: InvoiceLineDraft[] = [];
  const planPrice = planPriceNanos(catalog, plan, interval);
  lines.push({
    kind: 'plan',
    description: `${plan.name} plan (${interval})`,
    quantity: '1',
    unitPrice: formatNanos(planPrice, currency),
    amountMinor: lineAmountMinor({ unitPriceNanos: planPrice, quantity: 1n, currency }).toString(),
    periodStart: period.start,
    periodEnd: period.end,
  });
  const extraSeats = plan.seats ? Math.max(0, args.seats - plan.seats.included) : 0;
  if (extraSeats > 0) {
    const seatPrice = seatPriceNanos(catalog, plan, interval);
    lines.push({
      kind: 'seats',
      description: `${extraSeats} additional seat${extraSeats === 1 ? '' : 's'} (${interval})`,
      quantity: String(extraSeats),
      unitPrice: formatNanos(seatPrice, currency),
      amountMinor: lineAmountMinor({ unitPriceNanos: seatPrice, quantity: BigInt(extraSeats), currency }).toString(),
      periodStart: period.start,
      periodEnd: period.end,
    });
  }
  return lines;
}

export function totalMinor(lines: readonly InvoiceLineDraft[]): bigint {
  return lines.reduce((sum, line) => sum + BigInt(line.amountMinor), 0n);
}

/**
 * The invoice for a billing period, or undefined when there is nothing to bill (a Free plan with
 * no other lines): a zero invoice would only be noise for the customer.
 */
export function draftInvoice(args: {
  catalog: Catalog;
  customerId: string;
  reason: InvoiceReason;
  planId: string;
  interval: Interval;
  seats: number;
  period: Span;
  extraLines?: InvoiceLineDraft[];
}): InvoiceDraft | undefined {
  const lines = [...periodFeeLines(args), ...(args.extraLines ?? [])].filter((line) => BigInt(line.amountMinor) !== 0n);
  if (lines.length === 0) return undefined;
  return {
    customerId: args.customerId,
    reason: args.reason,
    currency: args.catalog.currency,
    periodStart: args.period.start,
    periodEnd: args.period.end,
    lines,
    totalMinor: totalMinor(lines).toString(),
    idempotencyKey: invoiceIdempotencyKey(args.customerId, args.reason, args.period.start),
  };
}

/**
 * Adds lines computed at renewal (overage of the cycle just closed) to the period's fee invoice,
 * or, when no fee is due, makes them an invoice of their own for that cycle.
 */
export function addLines(args: {
  draft: InvoiceDraft | undefined;
  lines: InvoiceLineDraft[];
  customerId: string;
  currency: string;
  cycle: Span;
}): InvoiceDraft | undefined {
  const lines = args.lines.filter((line) => BigInt(line.amountMinor) !== 0n);
  if (lines.length === 0) return args.draft;
  if (args.draft) {
    const all = [...args.draft.lines, ...lines];
    return { ...args.draft, lines: all, totalMinor: totalMinor(all).toString() };
  }
  return {
    customerId: args.customerId,
    reason: 'overage',
    currency: args.currency,
    periodStart: args.cycle.start,
    periodEnd: args.cycle.end,
    lines,
    totalMinor: totalMinor(lines).toString(),
    idempotencyKey: invoiceIdempotencyKey(args.customerId, 'overage', args.cycle.start),
  };
}

/**
 * The invoice for a plan change charged at once (prorated lines). Keyed by the state version the
 * change produced and, when given, the id of the request that made it (the Update id): a key
 * names exactly one change, so an invoice can never be mistaken for another change's.
 */
export function planChangeInvoice(args: { customerId: string; currency: string; lines: InvoiceLineDraft[]; changeVersion: number; changeId?: string; now: number; periodEnd: number }): InvoiceDraft | undefined {
  const lines = args.lines.filter((line) => BigInt(line.amountMinor) !== 0n);
  const total = totalMinor(lines);
  if (total <= 0n) return undefined;
  return {
    customerId: args.customerId,
    reason: 'plan_change',
    currency: args.currency,
    periodStart: args.now,
    periodEnd: args.periodEnd,
    lines,
    totalMinor: total.toString(),
    idempotencyKey: `invoice:${args.customerId}:plan_change:v${args.changeVersion}${args.changeId === undefined ? '' : `:${args.changeId}`}`,
  };
}

/**
 * Applies money owed to the customer to an invoice as one negative `credit` line, at most the
 * invoice's total. Returns the new draft and what is left owed.
 */
export function applyCredit(draft: InvoiceDraft, creditOwedMinor: bigint): { draft: InvoiceDraft; remainingMinor: bigint } {
  const total = BigInt(draft.totalMinor);
  const applied = creditOwedMinor < total ? creditOwedMinor : total;
  if (applied <= 0n) return { draft, remainingMinor: creditOwedMinor };
  const lines: InvoiceLineDraft[] = [...draft.lines, {
    kind: 'credit',
    description: 'Credit for unused time after a plan change',
    quantity: '1',
    unitPrice: '0',
    amountMinor: (-applied).toString(),
    periodStart: draft.periodStart,
    periodEnd: draft.periodEnd,
  }];
  return { draft: { ...draft, lines, totalMinor: (total - applied).toString() }, remainingMinor: creditOwedMinor - applied };
}

/**
 * The invoice that sells credits: one `credits` line. Keyed by the purchase's own id (the Update id
 * of a purchase, the recharge id of an auto-recharge), so a retried step finds the same invoice.
 */
export function creditPurchaseInvoice(args: {
  customerId: string;
  currency: string;
  purchaseId: string;
  reason: 'credit_purchase' | 'credit_recharge';
  description: string;
  packs: number;
  amountMinor: bigint;
  at: number;
}): InvoiceDraft {
  const unitMinor = args.amountMinor / BigInt(args.packs);
  return {
    customerId: args.customerId,
    reason: args.reason,
    currency: args.currency,
    periodStart: args.at,
    periodEnd: args.at,
    lines: [{
      kind: 'credits',
      description: args.description,
      quantity: String(args.packs),
      unitPrice: formatNanos(unitMinor * 10n ** BigInt(9 - minorDigits(args.currency)), args.currency),
      amountMinor: args.amountMinor.toString(),
      periodStart: args.at,
      periodEnd: args.at,
    }],
    totalMinor: args.amountMinor.toString(),
    idempotencyKey: `invoice:${args.customerId}:${args.reason}:${args.purchaseId}`,
  };
}
