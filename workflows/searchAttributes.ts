/**
 * Search attributes that make every subscription findable in the Temporal UI, e.g.
 * `CustomerId = "acme"` or `PlanId = "pro" AND SubscriptionStatus = "cancel_scheduled"`; the
 * Temporal UI's list shows them as columns.
 * Defined once here; the workflow upserts them, the worker registers them, the dev server is
 * started with them.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CUSTOMER_ID = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const PLAN_ID = defineSearchAttributeKey('PlanId', SearchAttributeType.KEYWORD);
export const SUBSCRIPTION_STATUS = defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD);
export const PERIOD_END = defineSearchAttributeKey('PeriodEnd', SearchAttributeType.DATETIME);
export const BILLING_INTERVAL = defineSearchAttributeKey('BillingInterval', SearchAttributeType.KEYWORD);
/** Set only on subscriptions on a test clock (issue 14): `TestClock IS NOT NULL` lists them. */
export const TEST_CLOCK = defineSearchAttributeKey('TestClock', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [CUSTOMER_ID, PLAN_ID, SUBSCRIPTION_STATUS, PERIOD_END, BILLING_INTERVAL, TEST_CLOCK] as const;

/**
 * A run's search attributes, as a start or a continue-as-new sets them (an upsert leaves out
 * CustomerId, which never changes). `withInterval`: false only in runs begun before
 * BillingInterval existed (INTERVAL_SEARCH_PATCH), so their replays upsert what they did.
 */
export function subscriptionSearchAttributes(s: { customerId: string; planId: string; interval: string; status: string; periodEnd: number; testClockId?: string | undefined }, withInterval = true) {
  return [
    ...(s.testClockId !== undefined ? [{ key: TEST_CLOCK, value: s.testClockId }] : []),
    { key: CUSTOMER_ID, value: s.customerId },
    { key: PLAN_ID, value: s.planId },
    { key: SUBSCRIPTION_STATUS, value: s.status },
    { key: PERIOD_END, value: new Date(s.periodEnd) },
    ...(withInterval ? [{ key: BILLING_INTERVAL, value: s.interval }] : []),
  ];
}

/** `Name=Type` pairs as the Temporal CLI's `--search-attribute` flag takes them. */
export function searchAttributeFlags(): string[] {
  const cliType: Record<string, string> = { KEYWORD: 'Keyword', DATETIME: 'Datetime' };
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType[key.type] ?? key.type}`]);
}
