/**
 * A new customer checked against the catalog, for POST /v1/customers and the import (which also
 * names usage, whose metrics must exist). Returned rather than thrown: in an import a problem is
 * that customer's result, not the request's; POST /v1/customers turns it into a 422.
 */
import { defaultSeats, findPlan, offersYearly, seatProblem, type Catalog, type Interval } from '../../billing/catalog.js';
import { cycleMs, cyclesPerPeriod } from '../../billing/period.js';

export type CatalogCheck =
  | { ok: true; seats: number; importedPeriodStart?: number }
  | { ok: false; code: 'unknown_plan' | 'interval_not_offered' | 'invalid_seats' | 'invalid_period_start' | 'unknown_metric'; message: string };

/** What a creation names that the catalog decides on (POST /v1/customers' body; an import's customer adds usage). */
export interface NewCustomerTerms {
  plan: string;
  interval: Interval;
  seats?: number | undefined;
  periodStart?: string | undefined;
  usage?: Readonly<Record<string, unknown>> | undefined;
}

export function checkAgainstCatalog(catalog: Catalog, customer: NewCustomerTerms, now: number): CatalogCheck {
  const plan = findPlan(catalog, customer.plan);
  if (!plan) return { ok: false, code: 'unknown_plan', message: `There is no plan "${customer.plan}". Plans: ${catalog.plans.map((p) => p.id).join(', ')}.` };
  if (customer.interval === 'yearly' && !offersYearly(catalog, plan)) {
    return { ok: false, code: 'interval_not_offered', message: `The ${plan.name} plan is not offered yearly.` };
  }
  const seats = customer.seats ?? defaultSeats(plan);
  const problem = seatProblem(plan, seats);
  if (problem) return { ok: false, code: 'invalid_seats', message: `${problem}.` };
  const metrics = new Set(catalog.metrics.map((m) => m.id));
  const unknown = Object.keys(customer.usage ?? {}).filter((metric) => !metrics.has(metric));
  if (unknown.length > 0) {
    return { ok: false, code: 'unknown_metric', message: `There is no metric ${unknown.map((m) => `"${m}"`).join(', ')}. Metrics: ${[...metrics].join(', ')}.` };
  }
  if (customer.periodStart === undefined) return { ok: true, seats };
  const start = Date.parse(customer.periodStart);
  const periodLength = cycleMs(catalog.cycleDays) * cyclesPerPeriod(customer.interval);
  if (start > now) return { ok: false, code: 'invalid_period_start', message: 'periodStart must not be in the future.' };
  if (start <= now - periodLength) {
    return { ok: false, code: 'invalid_period_start', message: `periodStart must be within the current ${customer.interval} period (less than ${periodLength / 86_400_000} days ago).` };
  }
  return { ok: true, seats, importedPeriodStart: start };
}
