/** JSON views the API returns. Money is an exact decimal string with its currency. */
import { findPlan, priceString, type Catalog } from '../billing/catalog.js';
import { moneyView } from '../billing/money.js';
import { admits, percentUsed } from '../billing/usage.js';
import type { SubscriptionRecord } from '../store/subscriptionStore.js';

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
}

/** The usage card: what a host's billing page shows, with this cycle's usage per metric. */
export function subscriptionView(catalog: Catalog, s: SubscriptionRecord, usageByMetric: ReadonlyMap<string, bigint>) {
  const plan = findPlan(catalog, s.planId);
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
      // Blocked: not even one more unit would be admitted.
      blocked: !admits({ used, quantity: 1n, included: limit, policy }),
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
    creditBalance: moneyView(0n, s.currency),
    creditOwed: moneyView(BigInt(s.creditOwedMinor), s.currency),
    scheduledChange: s.pendingPlanId !== null || s.pendingSeats !== null || s.pendingInterval !== null
      ? { plan: s.pendingPlanId, seats: s.pendingSeats, interval: s.pendingInterval, at: iso(s.periodEnd) }
      : null,
    downgradesThisCycle: s.downgradesThisCycle,
    usage,
  };
}

interface InvoiceRow {
  id: string;
  number: string;
  reason: string;
  status: string;
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  subtotalMinor: bigint;
  taxMinor: bigint;
  totalMinor: bigint;
  issuedAt: Date;
  lines: Array<{
    kind: string;
    description: string;
    quantity: bigint;
    unitPrice: string;
    amountMinor: bigint;
    periodStart: Date;
    periodEnd: Date;
  }>;
}

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
    // PDF rendering arrives with the Stripe issue (Stripe hosts invoice PDFs); none exists yet.
    pdfUrl: null,
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
