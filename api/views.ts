/** JSON views the API returns. Money is an exact decimal string with its currency. */
import { findPlan, priceString, type Catalog, type CreditsPolicy } from '../billing/catalog.js';
import { creditDraw, creditsMoneyNanos, creditUnitOf, formatCredits, nanosToMinor } from '../billing/creditPricing.js';
import { moneyView } from '../billing/money.js';
import { overageCharges } from '../billing/overage.js';
import { admits, percentUsed } from '../billing/usage.js';
import type { SubscriptionRecord } from '../store/subscriptionStore.js';
import type { Invoice, InvoiceLine } from '../generated/prisma/client.js';
import type { FirstPayment, PaymentStateView } from '../workflows/messages.js';

const iso = (ms: number) => new Date(ms).toISOString();

export interface UsageView {
  metric: string;
  name: string;
  unit: string;
  used: number;
  limit: number;
  percent: number;
  remaining: number;
  overage: number;
  overLimitPolicy: string;
  blocked: boolean;
  /** Billed overage (policy `bill`): what this cycle's units past the limit will cost on the next invoice, so far; else null. */
  overageCharge: { amount: string; currency: string } | null;
}

/** The usage card: what a host's billing page shows, with this cycle's usage per metric. */
export function subscriptionView(catalog: Catalog, s: SubscriptionRecord, usageByMetric: ReadonlyMap<string, bigint>, creditBalanceNanos = 0n) {
  const plan = findPlan(catalog, s.planId);
  const unit = creditUnitOf(catalog);
  const charges = plan ? overageCharges({ plan, metrics: catalog.metrics, currency: s.currency, usage: usageByMetric }) : [];
  const usage: UsageView[] = catalog.metrics.map((metric) => {
    const limit = BigInt(plan?.limits[metric.id]?.included ?? 0);
    const policy = plan?.limits[metric.id]?.overLimit.policy ?? 'reject';
    const used = usageByMetric.get(metric.id) ?? 0n;
    return {
      metric: metric.id,
      name: metric.name,
      unit: metric.unit,
      used: Number(used),
      limit: Number(limit),
      percent: percentUsed(used, limit),
      remaining: Number(used < limit ? limit - used : 0n),
      overage: Number(used > limit ? used - limit : 0n),
      overLimitPolicy: policy,
      // Blocked: not even one more unit would be admitted (with credits: the balance cannot pay for it).
      blocked: plan?.limits[metric.id]?.overLimit.policy === 'credits'
        ? creditDraw({ used, quantity: 1n, included: limit, policy: plan.limits[metric.id]!.overLimit as CreditsPolicy }).creditsNanos > creditBalanceNanos
        : !admits({ used, quantity: 1n, included: limit, policy: policy as 'reject' | 'bill' }),
      overageCharge: policy === 'bill' ? moneyView(charges.find((c) => c.metric === metric.id)?.amountMinor ?? 0n, s.currency) : null,
    };
  });
  return {
    customerId: s.customerId,
    plan: {
      id: s.planId,
      name: plan?.name ?? s.planId,
      tier: plan?.tier ?? null,
      price: plan ? { amount: priceString(catalog, plan, s.interval), currency: catalog.currency } : null,
      features: plan?.features ?? {},
    },
    interval: s.interval,
    seats: s.seats,
    status: s.status,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    currentPeriod: { start: iso(s.periodStart), end: iso(s.periodEnd) },
    currentCycle: { start: iso(s.cycleStart), end: iso(s.cycleEnd) },
    // Prepaid credits (issue 10): the balance in its unit, and what it is worth.
    creditBalance: moneyView(unit ? nanosToMinor(creditsMoneyNanos(creditBalanceNanos, unit), s.currency) : 0n, s.currency),
    credits: unit ? { unit: unit.name, balance: formatCredits(creditBalanceNanos, unit, s.currency) } : null,
    creditOwed: moneyView(BigInt(s.creditOwedMinor), s.currency),
    scheduledChange: s.pendingPlanId !== null || s.pendingSeats !== null || s.pendingInterval !== null
      ? { plan: s.pendingPlanId, seats: s.pendingSeats, interval: s.pendingInterval, at: iso(s.periodEnd) }
      : null,
    downgradesThisCycle: s.downgradesThisCycle,
    // What the subscription waits for from the payment provider: a Checkout page, a held upgrade, a past-due invoice.
    payment: paymentStateView(s.payment),
    usage,
  };
}

function paymentStateView(payment: PaymentStateView | null | undefined) {
  if (!payment) return null;
  return {
    reason: payment.reason,
    invoiceNumber: payment.invoiceNumber,
    payUrl: payment.payUrl,
    // Checkout page or held upgrade: when it lapses; past due: the next retry (null after the last).
    until: payment.until === null ? null : iso(payment.until),
    ...(payment.failures !== undefined ? { failures: payment.failures } : {}),
    ...(payment.lastReason !== undefined ? { lastError: payment.lastReason } : {}),
    ...(payment.upgradeTo ? { upgradeTo: { plan: payment.upgradeTo.planId, interval: payment.upgradeTo.interval, seats: payment.upgradeTo.seats } } : {}),
  };
}

/** How a new subscription's first invoice is being paid (POST /v1/customers with a payment provider). */
export function firstPaymentView(payment: FirstPayment) {
  return {
    status: payment.outcome === 'none' ? 'not_required' : payment.outcome,
    invoiceNumber: payment.invoiceNumber,
    checkoutUrl: payment.checkoutUrl,
    payUrl: payment.payUrl,
    reason: payment.reason,
  };
}

/** A stored invoice with its lines, as the API shows it (every column is shown, so the row type is Prisma's own). */
type InvoiceRow = Invoice & { lines: InvoiceLine[] };

export const invoicePdfPath = (customerId: string, number: string) =>
  `/v1/customers/${encodeURIComponent(customerId)}/invoices/${encodeURIComponent(number)}.pdf`;

export function invoiceView(invoice: InvoiceRow) {
  const money = (minor: bigint) => moneyView(minor, invoice.currency);
  return {
    id: invoice.id,
    number: invoice.number,
    status: invoice.status,
    reason: invoice.reason,
    issuedAt: invoice.issuedAt.toISOString(),
    period: { start: invoice.periodStart.toISOString(), end: invoice.periodEnd.toISOString() },
    subtotal: money(invoice.subtotalMinor),
    tax: money(invoice.taxMinor),
    total: money(invoice.totalMinor),
    // Relative to the API base: the API serves it (api/routes/invoiceDocumentRoutes.ts), whatever the payment provider.
    pdfUrl: invoicePdfPath(invoice.customerId, invoice.number),
    // The provider's hosted page (pay it, or download the provider's own PDF), once it is mirrored there.
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
    payment: {
      provider: invoice.providerInvoiceId ? { invoiceId: invoice.providerInvoiceId, status: invoice.providerStatus, pdfUrl: invoice.providerPdfUrl } : null,
      attempts: invoice.collectionAttempts,
      lastError: invoice.lastPaymentError,
      paidAt: invoice.paidAt?.toISOString() ?? null,
      voidedAt: invoice.voidedAt?.toISOString() ?? null,
      reference: invoice.paymentReference,
    },
    lines: invoice.lines.map((line) => ({
      kind: line.kind,
      description: line.description,
      quantity: line.quantity.toString(),
      unitPrice: { amount: line.unitPrice, currency: invoice.currency },
      amount: money(line.amountMinor),
      period: { start: line.periodStart.toISOString(), end: line.periodEnd.toISOString() },
    })),
  };
}
