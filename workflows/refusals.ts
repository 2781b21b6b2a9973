/**
 * Why the workflow refuses a request. Update validators throw these as ApplicationFailures whose
 * `type` is the stable code the API returns, so the reason reaches the caller at once and a
 * refused update leaves nothing in the workflow's history.
 */
import { ApplicationFailure } from '@temporalio/common';
import { PLAN_CHANGE_REFUSALS } from '../billing/planChange.js';

export const REFUSAL_CODES = [
  'cancellation_already_scheduled',
  'nothing_to_cancel',
  'no_cancellation_scheduled',
  /** The usage sent with a plan change is from another cycle (a renewal just happened): measure again. */
  'stale_usage',
  /** The run is handing over to its next one (continue-as-new): the API tries again in a moment. */
  'subscription_busy',
  /** A new subscription's first invoice waits for Checkout: no change until it is paid (or lapses). */
  'subscription_incomplete',
  /** An upgrade waits for its payment: no other change until it is paid or expires. */
  'upgrade_awaiting_payment',
  /** A renewal invoice is past due: no change that costs more until it is paid. */
  'payment_past_due',
  /** Settling an invoice: no invoice with that number for this customer. */
  'invoice_not_found',
  /** Settling an invoice that is already paid, void or uncollectible. */
  'invoice_not_open',
  /** The payment provider refused the request as configured (a bad key, a request it cannot take). */
  'payment_provider_error',
  /** Credits: the catalog sells none, no such pack, an amount it does not take. */
  'credits_not_offered',
  'unknown_pack',
  'amount_out_of_range',
  'invalid_amount',
  'custom_amount_not_offered',
  /** Credits: too many purchases already wait for their payment. */
  'too_many_pending_purchases',
  /** Credits: this run began on code from before credits; it can buy them after its next renewal. */
  'credits_after_renewal',
  /** Refunding credits: no such purchase, not paid, or all its credits used. */
  'purchase_not_found',
  'purchase_not_paid',
  'nothing_to_refund',
  /** The customer's test clock is advancing: requests wait until it has caught up (issue 14). */
  'test_clock_advancing',
  /** A plan change previewed under another catalog version than the subscription's: preview it again (issue 15). */
  'catalog_changed',
  ...PLAN_CHANGE_REFUSALS,
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export function refusal(code: RefusalCode, message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true, details: details ? [details] : undefined });
}

/** Refusals that mean the request itself is impossible with this catalog (422), not a state conflict (409). */
export const UNPROCESSABLE_REFUSALS: readonly RefusalCode[] = ['unknown_plan', 'interval_not_offered', 'invalid_seats', 'credits_not_offered', 'unknown_pack', 'amount_out_of_range', 'invalid_amount', 'custom_amount_not_offered'];

/** Refusals that mean the thing named does not exist (404). */
export const NOT_FOUND_REFUSALS: readonly RefusalCode[] = ['invoice_not_found', 'purchase_not_found'];

/** Refusals that are the payment provider's (502). */
export const PROVIDER_REFUSALS: readonly RefusalCode[] = ['payment_provider_error'];

export function isRefusalCode(value: unknown): value is RefusalCode {
  return typeof value === 'string' && (REFUSAL_CODES as readonly string[]).includes(value);
}
