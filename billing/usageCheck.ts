/**
 * The allow/refuse check's rule: would `quantity` more of a metric be admitted now? One pure
 * function, asked by the database path (store/usageLedger.ts: checkUsage) and by the API's
 * in-process view (api/usage/usageView.ts), so the two cannot answer differently for one state.
 *
 * The check is a question, not a reservation: `record` decides in the ledger's transaction, and a
 * check's answer can be overtaken by usage recorded right after it.
 */
import { findPlan, type Catalog } from './catalog.js';
import { creditDraw } from './creditPricing.js';
import { paymentPolicyOf } from './paymentPolicy.js';
import { admits } from './usage.js';

/** What the rule needs to know of one customer: the subscription and the metric's counter in its cycle. */
export interface UsageCheckState {
  planId: string;
  status: string;
  /** When the current cycle ends (ms); from then on the renewal is due and the new cycle starts empty. */
  cycleEnd: number;
  /** The metric's counter in the current cycle (0 when nothing was recorded). */
  used: bigint;
  /** The credit balance in nanos; only read for a metric whose over-limit policy is `credits`. */
  balance?: bigint;
}

export interface UsageCheck {
  allowed: boolean;
  used: bigint;
  limit: bigint;
  policy: string;
  /** With a credits policy: what the quantity would draw, and the balance now (nanos). */
  credits?: { creditsNeeded: bigint; balance: bigint };
}

/** Whether the answer for this metric depends on the credit balance (its over-limit policy is `credits`). */
export function checkNeedsBalance(catalog: Catalog, planId: string, metric: string): boolean {
  return findPlan(catalog, planId)?.limits[metric]?.overLimit.policy === 'credits';
}

export function decideUsageCheck(catalog: Catalog, state: UsageCheckState, args: { metric: string; quantity: bigint; now: number }): UsageCheck {
  const plan = findPlan(catalog, state.planId);
  // A plan this process's catalog does not price yet (a catalog edit rolling out): refuse, as record does.
  if (!plan) return { allowed: false, used: state.used, limit: 0n, policy: 'unavailable' };
  const limit = plan.limits[args.metric];
  const included = BigInt(limit?.included ?? 0);
  const policy = limit?.overLimit.policy ?? 'reject';
  // A renewal a moment late: the new cycle has not been opened yet, so nothing is used in it.
  const current = args.now >= state.cycleEnd ? 0n : state.used;
  const pastDueRefused = state.status === 'past_due' && paymentPolicyOf(catalog).usageWhilePastDue === 'refuse';
  if (limit?.overLimit.policy === 'credits') {
    const balance = state.balance ?? 0n;
    const creditsNeeded = creditDraw({ used: current, quantity: args.quantity, included, policy: limit.overLimit }).creditsNanos;
    return { allowed: !pastDueRefused && creditsNeeded <= balance, used: current, limit: included, policy, credits: { creditsNeeded, balance } };
  }
  return {
    allowed: !pastDueRefused && admits({ used: current, quantity: args.quantity, included, policy: policy as 'reject' | 'bill' }),
    used: current,
    limit: included,
    policy,
  };
}
