/**
 * Whether a catalog can take over subscriptions already running: it must still price every plan
 * and interval they are on or scheduled for, in their currency, with their cycle length (cycles
 * and periods must stay aligned), and name a fallback plan that exists. The worker asks it for one
 * subscription at its renewal (it keeps its own copy otherwise); the API asks it for all of them
 * before it takes a reloaded catalog (it keeps the one it has otherwise).
 */
import { findPlan, offersYearly, type Catalog, type Interval } from './catalog.js';
import { cycleMs } from './period.js';

/** Terms some subscription is on or scheduled for. */
export interface TermsInUse {
  planId: string;
  interval: Interval;
  currency: string;
  /** Length of its usage cycle, in ms. */
  cycleLengthMs: number;
}

/** Why the catalog cannot take over subscriptions on these terms; empty when it can. */
export function catalogFitProblems(catalog: Catalog, inUse: readonly TermsInUse[]): string[] {
  const problems = new Set<string>();
  if (!findPlan(catalog, catalog.fallbackPlan)) problems.add(`the fallback plan "${catalog.fallbackPlan}" is not a plan`);
  for (const terms of inUse) {
    const plan = findPlan(catalog, terms.planId);
    if (!plan) problems.add(`plan "${terms.planId}" is in use but the catalog has no such plan`);
    else if (terms.interval === 'yearly' && !offersYearly(catalog, plan)) problems.add(`plan "${terms.planId}" is in use yearly but the catalog has no yearly price for it`);
    if (terms.currency !== catalog.currency) problems.add(`subscriptions are billed in ${terms.currency} but the catalog's currency is ${catalog.currency}`);
    if (terms.cycleLengthMs !== cycleMs(catalog.cycleDays)) problems.add(`subscriptions run ${terms.cycleLengthMs / 86_400_000}-day cycles but the catalog's cycleDays is ${catalog.cycleDays}`);
  }
  return [...problems];
}
