/** The first run's input for a new or imported subscription (pure; used by the API and tests). */
import { requirePlan, type Catalog, type Interval } from '../billing/catalog.js';
import { currentSpans } from '../billing/period.js';
import type { SubscriptionInput, TestClockPosition } from './messages.js';

export function newSubscriptionInput(args: {
  catalog: Catalog;
  customerId: string;
  planId: string;
  interval: Interval;
  seats: number;
  /** Imported customers: when their current billing period began (in the past). */
  importedPeriodStart?: number;
  now: number;
  /** The payment provider the API runs with: with one, upgrades wait for their payment. */
  paymentProvider?: 'none' | 'stripe';
  /** Where a first-invoice Checkout page returns the customer. */
  checkoutUrls?: { successUrl: string; cancelUrl: string };
  /** The test clock it runs on (`now` is then the clock's instant). */
  testClock?: TestClockPosition;
}): SubscriptionInput {
  requirePlan(args.catalog, args.planId);
  const periodStart = args.importedPeriodStart ?? args.now;
  const { period, cycle } = currentSpans({ periodStart, now: args.now, interval: args.interval, cycleDays: args.catalog.cycleDays });
  return {
    customerId: args.customerId,
    catalog: args.catalog,
    planId: args.planId,
    interval: args.interval,
    seats: args.seats,
    periodStart: period.start,
    periodEnd: period.end,
    cycleStart: cycle.start,
    cycleEnd: cycle.end,
    cancelAtPeriodEnd: false,
    creditOwedMinor: '0',
    version: 1,
    cycleNumber: 0,
    // An imported customer has paid the current period elsewhere.
    invoiceFirstPeriod: args.importedPeriodStart === undefined,
    newSubscription: true,
    ...(args.paymentProvider ? { paymentProvider: args.paymentProvider } : {}),
    ...(args.checkoutUrls ? { checkoutUrls: args.checkoutUrls } : {}),
    ...(args.testClock ? { testClock: args.testClock } : {}),
  };
}
