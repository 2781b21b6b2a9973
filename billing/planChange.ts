/**
 * Whether a plan change is allowed and what it does: one pure function shared by the workflow's
 * update validator and handler, and the API's preview. The policy is data from the catalog: tiers
 * order plans, the change rules (billing/changeRules.ts) say when a change applies or why it is
 * refused, `downgradesPerCycle` and `downgradeAllowanceFactor` bound downgrades.
 */
import { clampSeats, findPlan, offersYearly, seatProblem, type Catalog, type Interval } from './catalog.js';
import { changeFactsOf, changeTimingOf } from './changeRules.js';
import { downgradeAllowance, usageFitsDowngrade } from './downgradeAllowance.js';
import { cycleMs } from './period.js';
import { prorate, type PricedSubscription, type Proration } from './proration.js';
import type { Span } from './period.js';

export interface PlanChangeRequest {
  planId?: string;
  interval?: Interval;
  seats?: number;
}

export interface PlanChangeState extends PricedSubscription {
  period: Span;
  cycle: Span;
  cancelAtPeriodEnd: boolean;
  downgradesThisCycle: number;
  /** A change scheduled for the period end, if any. */
  hasScheduledChange?: boolean;
}

export const PLAN_CHANGE_REFUSALS = [
  'cancellation_scheduled',
  'unknown_plan',
  'interval_not_offered',
  'invalid_seats',
  'no_change',
  'change_not_allowed',
  'downgrade_limit_reached',
  'usage_exceeds_downgrade_allowance',
] as const;
export type PlanChangeRefusalCode = (typeof PLAN_CHANGE_REFUSALS)[number];

/** `scheduled_change_cancelled`: the request asks for what the subscription has now, withdrawing a scheduled change. */
export type ChangeKind = 'upgrade' | 'downgrade' | 'interval_change' | 'seats_added' | 'seats_removed' | 'scheduled_change_cancelled';

export type PlanChangeDecision =
  | { allowed: false; code: PlanChangeRefusalCode; message: string; details?: Record<string, unknown> }
  | {
      allowed: true;
      kind: ChangeKind;
      /** `period_end`: nothing changes now; the change is applied at the next renewal. */
      effective: 'immediate' | 'period_end';
      /** The catalog change rule that decided the timing (its index), or null for a built-in rule. */
      rule: number | null;
      next: PricedSubscription;
      proration: Proration;
    };

/** The decision's view of a subscription, from the workflow state or its read model (same fields). */
export function planChangeStateOf(s: PricedSubscription & {
  periodStart: number; periodEnd: number; cycleStart: number; cycleEnd: number; cancelAtPeriodEnd: boolean; downgradesThisCycle: number;
  pendingPlanId: string | null; pendingSeats: number | null; pendingInterval: Interval | null;
}): PlanChangeState {
  return {
    planId: s.planId,
    interval: s.interval,
    seats: s.seats,
    period: { start: s.periodStart, end: s.periodEnd },
    cycle: { start: s.cycleStart, end: s.cycleEnd },
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    downgradesThisCycle: s.downgradesThisCycle,
    hasScheduledChange: s.pendingPlanId !== null || s.pendingSeats !== null || s.pendingInterval !== null,
  };
}

const refuse = (code: PlanChangeRefusalCode, message: string, details?: Record<string, unknown>): PlanChangeDecision => ({ allowed: false, code, message, details });

export function evaluatePlanChange(args: {
  catalog: Catalog;
  state: PlanChangeState;
  request: PlanChangeRequest;
  /** Usage so far in the current cycle, per metric. */
  usage: ReadonlyMap<string, bigint>;
  now: number;
}): PlanChangeDecision {
  const { catalog, state, request, now } = args;
  if (state.cancelAtPeriodEnd) {
    return refuse('cancellation_scheduled', 'A cancellation is scheduled: reactivate the subscription first, then change the plan.');
  }
  const current = findPlan(catalog, state.planId);
  const target = findPlan(catalog, request.planId ?? state.planId);
  if (!current || !target) return refuse('unknown_plan', `There is no plan "${request.planId}". Plans: ${catalog.plans.map((p) => p.id).join(', ')}.`);
  const interval = request.interval ?? state.interval;
  if (interval === 'yearly' && !offersYearly(catalog, target)) return refuse('interval_not_offered', `The ${target.name} plan is not offered yearly.`);
  const planChanges = target.id !== current.id;
  // Moving to another plan keeps the seat count as far as the target allows.
  const seats = request.seats ?? (planChanges ? clampSeats(target, state.seats) : state.seats);
  const seatIssue = seatProblem(target, seats);
  if (seatIssue) return refuse('invalid_seats', `${seatIssue}.`);
  const next: PricedSubscription = { planId: target.id, interval, seats };
  if (!planChanges && interval === state.interval && seats === state.seats) {
    if (state.hasScheduledChange) {
      return { allowed: true, kind: 'scheduled_change_cancelled', effective: 'immediate', rule: null, next, proration: { period: state.period, lines: [], netMinor: 0n } };
    }
    return refuse('no_change', 'The subscription already has this plan, interval and seat count.');
  }

  const facts = changeFactsOf({ plan: current, interval: state.interval, seats: state.seats }, { plan: target, interval, seats });
  const kind: ChangeKind = facts.tier === 'up' ? 'upgrade' : facts.tier === 'down' ? 'downgrade'
    : facts.fromInterval !== facts.toInterval ? 'interval_change' : facts.seats === 'up' ? 'seats_added' : 'seats_removed';

  const timing = changeTimingOf(catalog, facts);
  if (timing.apply === 'refused') return refuse('change_not_allowed', timing.reason ?? 'The plan catalog does not allow this change.', { rule: timing.rule });

  if (kind === 'downgrade') {
    if (state.downgradesThisCycle >= catalog.downgradesPerCycle) {
      return refuse('downgrade_limit_reached', `The subscription was already downgraded in this cycle; try again after the renewal on ${new Date(state.cycle.end).toISOString().slice(0, 10)}.`,
        { retryAfter: new Date(state.cycle.end).toISOString() });
    }
    // Only a downgrade applied at once gives credit for the rest of the period and lowers the
    // limit now, so only it must fit the usage so far; one at the period end lowers it at renewal.
    if (timing.apply === 'immediate') {
      const elapsedMs = now - state.cycle.start;
      const length = cycleMs(catalog.cycleDays);
      for (const metric of catalog.metrics) {
        const targetLimit = BigInt(target.limits[metric.id]?.included ?? 0);
        const used = args.usage.get(metric.id) ?? 0n;
        if (!usageFitsDowngrade({ used, targetLimit, elapsedMs, cycleMs: length, factor: catalog.downgradeAllowanceFactor })) {
          const allowance = downgradeAllowance({ targetLimit, elapsedMs, cycleMs: length, factor: catalog.downgradeAllowanceFactor });
          return refuse('usage_exceeds_downgrade_allowance',
            `${metric.name} used so far (${used.toLocaleString('en-US')}) is more than the ${target.name} plan allows at this point of the cycle (${allowance.toLocaleString('en-US')} of ${targetLimit.toLocaleString('en-US')}).`,
            { metric: metric.id, used: Number(used), allowance: Number(allowance), targetLimit: Number(targetLimit), daysElapsed: Math.round((elapsedMs / 86_400_000) * 1000) / 1000 });
        }
      }
    }
  }

  if (timing.apply === 'period_end') return { allowed: true, kind, effective: 'period_end', rule: timing.rule, next, proration: { period: state.period, lines: [], netMinor: 0n } };
  const proration = prorate({ catalog, from: state, to: next, period: state.period, cycleStart: state.cycle.start, now });
  return { allowed: true, kind, effective: 'immediate', rule: timing.rule, next, proration };
}
