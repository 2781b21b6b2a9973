/**
 * The plans a customer can choose from, as a billing page shows them: each plan's price per
 * interval (the yearly one derived from the catalog's discount where it sets none), what it
 * includes per metric and what happens past that, its seats, and which one the customer is on.
 * Money is an exact decimal string with its currency, as everywhere in the API.
 */
import { findPlan, offersYearly, planPriceNanos, seatPriceNanos, type Catalog, type Interval, type Plan } from '../../billing/catalog.js';
import { formatNanos } from '../../billing/money.js';

export interface CurrentChoice {
  planId: string;
  interval: Interval;
  seats: number;
}

export function planCatalogView(catalog: Catalog, current: CurrentChoice) {
  const money = (nanos: bigint) => ({ amount: formatNanos(nanos, catalog.currency), currency: catalog.currency });
  const prices = (price: (interval: Interval) => bigint, plan: Plan) => ({
    monthly: money(price('monthly')),
    yearly: offersYearly(catalog, plan) ? money(price('yearly')) : null,
  });
  return {
    currency: catalog.currency,
    cycleDays: catalog.cycleDays,
    /** Yearly = 12 × monthly less this percentage, for plans without a yearly price of their own. */
    yearlyDiscountPercent: catalog.yearlyDiscountPercent ?? null,
    /** When a downgrade applies if no change rule says otherwise (catalogs from before change rules). */
    downgradeTiming: catalog.downgradeTiming,
    /** The catalog's plan-change rules, in order (the first that matches a change decides; billing/changeRules.ts). */
    changeRules: catalog.changeRules ?? [],
    /** Where a cancelled subscription goes at its period end. */
    fallbackPlan: { id: catalog.fallbackPlan, name: findPlan(catalog, catalog.fallbackPlan)?.name ?? catalog.fallbackPlan },
    current: { plan: current.planId, interval: current.interval, seats: current.seats },
    metrics: catalog.metrics.map((m) => ({ id: m.id, name: m.name, unit: m.unit })),
    plans: [...catalog.plans].sort((a, b) => a.tier - b.tier).map((plan) => ({
      id: plan.id,
      name: plan.name,
      tier: plan.tier,
      current: plan.id === current.planId,
      prices: prices((interval) => planPriceNanos(catalog, plan, interval), plan),
      limits: catalog.metrics.map((metric) => {
        const limit = plan.limits[metric.id];
        const overLimit = limit?.overLimit ?? { policy: 'reject' as const };
        return {
          metric: metric.id,
          included: limit?.included ?? 0,
          overLimit: overLimit.policy === 'bill'
            ? { policy: 'bill' as const, unitPrice: { amount: overLimit.unitPrice, currency: catalog.currency } }
            : overLimit.policy === 'credits'
              // Credits, not money: how many credits each unit past the limit draws (or graduated tiers of it).
              ? { policy: 'credits' as const, creditsPerUnit: overLimit.unitPrice ?? null, tiers: overLimit.tiers ?? null }
              : { policy: 'reject' as const },
        };
      }),
      seats: plan.seats
        ? { included: plan.seats.included, min: plan.seats.min, max: plan.seats.max ?? null, price: prices((interval) => seatPriceNanos(catalog, plan, interval), plan) }
        : null,
      features: plan.features,
    })),
  };
}
