/**
 * The catalog's payment rules with their defaults (PRODUCT.md, issue 9): when a failed renewal
 * payment is retried, what happens after the last failure, whether usage is admitted meanwhile,
 * and what becomes of credit owed to a customer who lands on the fallback plan. Pure.
 */
import type { Catalog } from './catalog.js';
import { DAY_MS } from './period.js';

export type DunningFinalAction = 'fallback_plan' | 'cancel' | 'mark_uncollectible';

export interface PaymentPolicy {
  /** Days after the first failure at which the payment is retried. */
  retryDays: readonly number[];
  finalAction: DunningFinalAction;
  usageWhilePastDue: 'allow' | 'refuse';
  creditOnFallback: 'refund' | 'keep';
}

export const DEFAULT_PAYMENT_POLICY: PaymentPolicy = {
  retryDays: [1, 3, 7],
  finalAction: 'fallback_plan',
  usageWhilePastDue: 'allow',
  creditOnFallback: 'refund',
};

/** How long an upgrade waits for its payment before it expires and its invoice is voided. */
export const UPGRADE_PAYMENT_WINDOW_MS = 23 * 60 * 60 * 1000;
/**
 * How long a first-invoice Checkout page stays open: under Stripe's 24-hour maximum, so a clock a
 * little ahead of Stripe's never asks for more than Stripe allows.
 */
export const CHECKOUT_WINDOW_MS = 23 * 60 * 60 * 1000;
/** After a Checkout page's expiry, how long to wait for its webhook before asking Stripe directly. */
export const CHECKOUT_GRACE_MS = 10 * 60 * 1000;

export function paymentPolicyOf(catalog: Catalog): PaymentPolicy {
  const configured = catalog.payments;
  return {
    retryDays: configured?.dunning?.retryDays ?? DEFAULT_PAYMENT_POLICY.retryDays,
    finalAction: configured?.dunning?.finalAction ?? DEFAULT_PAYMENT_POLICY.finalAction,
    usageWhilePastDue: configured?.dunning?.usageWhilePastDue ?? DEFAULT_PAYMENT_POLICY.usageWhilePastDue,
    creditOnFallback: configured?.creditOnFallback ?? DEFAULT_PAYMENT_POLICY.creditOnFallback,
  };
}

/**
 * When the next retry of a failed renewal payment is due, after `failures` failed attempts (the
 * first one included) that began at `firstFailureAt`; undefined when none is left.
 */
export function nextRetryAt(policy: PaymentPolicy, firstFailureAt: number, failures: number): number | undefined {
  const days = policy.retryDays[failures - 1];
  return days === undefined ? undefined : firstFailureAt + Math.round(days * DAY_MS);
}
