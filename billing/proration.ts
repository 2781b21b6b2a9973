/**
 * Proration: what a change of plan, interval or seats costs or credits for the rest of a period.
 * A change within the same interval is ONE line, the price difference × the unused share of the
 * period, rounded once — so an upgrade and a later downgrade back can never net the customer
 * money (the later share is never larger, and rounding is monotonic). An interval switch starts a
 * new period at the current cycle's start and is two lines: the unused remainder of the old
 * period credited, the remainder of the new one charged.
 */
import { planPriceNanos, requirePlan, seatPriceNanos, type Catalog, type Interval } from './catalog.js';
import type { InvoiceLineDraft } from './invoiceDraft.js';
import { formatNanos, lineAmountMinor } from './money.js';
import { periodOf, type Span } from './period.js';

export interface PricedSubscription {
  planId: string;
  interval: Interval;
  seats: number;
}

/** The price of a whole period of this plan, interval and seat count, in nanos. */
export function periodFeeNanos(catalog: Catalog, s: PricedSubscription): bigint {
  const plan = requirePlan(catalog, s.planId);
  const extraSeats = plan.seats ? Math.max(0, s.seats - plan.seats.included) : 0;
  return planPriceNanos(catalog, plan, s.interval) + BigInt(extraSeats) * seatPriceNanos(catalog, plan, s.interval);
}

function describe(catalog: Catalog, s: PricedSubscription): string {
  const plan = requirePlan(catalog, s.planId);
  return `${plan.name} (${s.interval}${plan.seats ? `, ${s.seats} seats` : ''})`;
}

/** Unused share of a span at `now`: [remaining ms, whole ms], clamped to [0, whole]. */
export function unusedShare(span: Span, now: number): [bigint, bigint] {
  const whole = span.end - span.start;
  const remaining = Math.min(whole, Math.max(0, span.end - now));
  return [BigInt(remaining), BigInt(whole)];
}

export interface Proration {
  /** The billing period after the change (a new one when the interval changes). */
  period: Span;
  lines: InvoiceLineDraft[];
  /** Sum of the lines in minor units: > 0 is charged now, < 0 is credited to the next invoice. */
  netMinor: bigint;
}

export function prorate(args: {
  catalog: Catalog;
  from: PricedSubscription;
  to: PricedSubscription;
  period: Span;
  cycleStart: number;
  now: number;
}): Proration {
  const { catalog, from, to, now } = args;
  const currency = catalog.currency;
  const oldFee = periodFeeNanos(catalog, from);
  const newFee = periodFeeNanos(catalog, to);
  const lines: InvoiceLineDraft[] = [];
  let period = args.period;

  if (from.interval === to.interval) {
    const [share, whole] = unusedShare(period, now);
    const amount = lineAmountMinor({ unitPriceNanos: newFee - oldFee, quantity: 1n, currency, share, whole });
    if (amount !== 0n) {
      lines.push({
        kind: 'proration',
        description: `${describe(catalog, from)} → ${describe(catalog, to)} for the rest of the period`,
        quantity: '1',
        unitPrice: formatNanos(newFee - oldFee, currency),
        amountMinor: amount.toString(),
        periodStart: Math.max(now, period.start),
        periodEnd: period.end,
      });
    }
  } else {
    const [oldShare, oldWhole] = unusedShare(period, now);
    const credit = lineAmountMinor({ unitPriceNanos: oldFee, quantity: 1n, currency, share: oldShare, whole: oldWhole });
    period = periodOf(args.cycleStart, to.interval, catalog.cycleDays);
    const [newShare, newWhole] = unusedShare(period, now);
    const charge = lineAmountMinor({ unitPriceNanos: newFee, quantity: 1n, currency, share: newShare, whole: newWhole });
    if (credit !== 0n) {
      lines.push({ kind: 'proration', description: `Unused time on ${describe(catalog, from)}`, quantity: '1', unitPrice: formatNanos(-oldFee, currency), amountMinor: (-credit).toString(), periodStart: now, periodEnd: args.period.end });
    }
    if (charge !== 0n) {
      lines.push({ kind: 'proration', description: `Remaining time on ${describe(catalog, to)}`, quantity: '1', unitPrice: formatNanos(newFee, currency), amountMinor: charge.toString(), periodStart: now, periodEnd: period.end });
    }
  }
  return { period, lines, netMinor: lines.reduce((sum, line) => sum + BigInt(line.amountMinor), 0n) };
}
