/**
 * Overage at cycle end: for each metric whose over-limit policy is "bill", the units past the
 * included quantity are priced at the unit price, rounded once to the minor unit
 * (10,000 calls over at $0.0005 → $5.00).
 */
import type { Catalog, Plan } from './catalog.js';
import type { InvoiceLineDraft } from './invoiceDraft.js';
import { lineAmountMinor, parseNanos } from './money.js';

export type Metric = Catalog['metrics'][number];

export interface OverageCharge {
  metric: string;
  included: bigint;
  used: bigint;
  overage: bigint;
  unitPrice: string;
  amountMinor: bigint;
}

export function overageCharges(args: { plan: Plan; metrics: readonly Metric[]; currency: string; usage: ReadonlyMap<string, bigint> }): OverageCharge[] {
  const charges: OverageCharge[] = [];
  for (const metric of args.metrics) {
    const limit = args.plan.limits[metric.id];
    const used = args.usage.get(metric.id) ?? 0n;
    if (!limit || limit.overLimit.policy !== 'bill') continue;
    const included = BigInt(limit.included);
    if (used <= included) continue;
    const overage = used - included;
    const amountMinor = lineAmountMinor({ unitPriceNanos: parseNanos(limit.overLimit.unitPrice), quantity: overage, currency: args.currency });
    charges.push({ metric: metric.id, included, used, overage, unitPrice: limit.overLimit.unitPrice, amountMinor });
  }
  return charges;
}

export function overageLines(metrics: readonly Metric[], charges: readonly OverageCharge[], cycle: { start: number; end: number }): InvoiceLineDraft[] {
  return charges.map((charge) => {
    const metric = metrics.find((m) => m.id === charge.metric);
    const unit = metric?.unit ?? 'unit';
    return {
      kind: 'overage' as const,
      description: `${metric?.name ?? charge.metric}: ${charge.overage.toLocaleString('en-US')} ${unit}s over the included ${charge.included.toLocaleString('en-US')}`,
      quantity: charge.overage.toString(),
      unitPrice: charge.unitPrice,
      amountMinor: charge.amountMinor.toString(),
      periodStart: cycle.start,
      periodEnd: cycle.end,
    };
  });
}
