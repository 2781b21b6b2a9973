/**
 * What an operator sees of a subscription in the Temporal UI without running a query:
 * - the list view's columns come from search attributes (workflows/searchAttributes.ts), upserted
 *   on every change, so they are filterable and always current;
 * - the detail view shows the workflow's "current details", set here on every change (kept in the
 *   workflow's memory and served through the SDK's metadata query: no history event, so nothing to
 *   replay or patch);
 * - no static summary: the UI shows it only for the run it was given to, and a continue-as-new
 *   (every renewal) cannot pass it on (SDK 1.24), so it would vanish after the first cycle.
 */
import { findPlan, type Catalog } from '../billing/catalog.js';
import type { SubscriptionSnapshot } from './messages.js';

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

const STATUS_WORDS: Record<SubscriptionSnapshot['status'], string> = {
  active: 'active',
  cancel_scheduled: 'cancellation scheduled',
  incomplete: 'incomplete (first payment awaited)',
  past_due: 'past due',
};

/** Markdown for the detail view: customer, plan, interval, seats, status, renewal date, and what is scheduled. */
export function currentDetailsOf(state: SubscriptionSnapshot, catalog: Catalog | undefined): string {
  const planName = (id: string) => (catalog ? findPlan(catalog, id)?.name : undefined) ?? id;
  const renewal = state.cancelAtPeriodEnd ? `ends ${day(state.periodEnd)}` : `renews ${day(state.periodEnd)}`;
  const lines = [
    `**Customer** ${state.customerId}`,
    `**Plan** ${planName(state.planId)} (${state.planId}), ${state.interval}${state.seats > 1 ? `, ${state.seats} seats` : ''}`,
    `**Status** ${STATUS_WORDS[state.status]}; ${renewal}`,
    `**Cycle** ${state.cycleNumber + 1}: ${day(state.cycleStart)} → ${day(state.cycleEnd)}`,
  ];
  if (state.pendingPlanId !== null || state.pendingInterval !== null || state.pendingSeats !== null) {
    const parts = [
      ...(state.pendingPlanId !== null ? [`plan ${planName(state.pendingPlanId)}`] : []),
      ...(state.pendingInterval !== null ? [`${state.pendingInterval} billing`] : []),
      ...(state.pendingSeats !== null ? [`${state.pendingSeats} seats`] : []),
    ];
    lines.push(`**Scheduled** ${parts.join(', ')} from ${day(state.periodEnd)}`);
  }
  if (state.payment) lines.push(`**Payment** waiting: ${state.payment.reason}, invoice ${state.payment.invoiceNumber}`);
  return lines.join('  \n');
}
