/**
 * Metering rules: whether usage is admitted, which alert thresholds a change crosses, and which
 * cycle an event's timestamp belongs to. Quantities are bigint: a counter never overflows or
 * loses precision however much usage arrives.
 */
import type { OverLimitPolicy } from './catalog.js';

export const ALERT_THRESHOLDS = [80, 100] as const;
export type AlertThreshold = (typeof ALERT_THRESHOLDS)[number];

/**
 * Whether `quantity` more units are admitted on top of `used`. "reject" refuses what would go past
 * the included quantity (so the 1,000th call of 1,000 is allowed and the 1,001st refused); "bill"
 * never refuses (the overage is billed). ("credits" is decided by the balance that pays for what
 * goes past: store/creditLedger.ts.)
 */
export function admits(args: { used: bigint; quantity: bigint; included: bigint; policy: Exclude<OverLimitPolicy['policy'], 'credits'> }): boolean {
  if (args.policy === 'bill') return true;
  return args.used + args.quantity <= args.included;
}

/**
 * Thresholds crossed going from `before` to `after` usage of `included`: 80% when usage reaches
 * 80% of the limit, 100% when it reaches the limit (on a refusing plan the limit can be reached
 * but never passed, so "going over 100%" is reaching it). Nothing for a zero limit.
 */
export function crossedThresholds(before: bigint, after: bigint, included: bigint): AlertThreshold[] {
  if (included <= 0n || after <= before) return [];
  return ALERT_THRESHOLDS.filter((t) => before * 100n < included * BigInt(t) && after * 100n >= included * BigInt(t));
}

/** Percentage used, to two decimals, for progress bars (a number, not money). */
export function percentUsed(used: bigint, included: bigint): number {
  if (included <= 0n) return used > 0n ? 100 : 0;
  return Number((used * 10_000n) / included) / 100;
}

/**
 * The cycle an event at `at` belongs to, given the subscription's current cycle. Events before
 * the current cycle belong to a cycle the renewal has closed; events after its end (the renewal is
 * a moment late) belong to the following cycles, which are contiguous.
 */
export function cycleForEvent(at: number, current: { start: number; end: number }): { start: number; end: number } | 'closed' {
  if (at < current.start) return 'closed';
  const length = current.end - current.start;
  const k = Math.floor((at - current.start) / length);
  return { start: current.start + k * length, end: current.start + (k + 1) * length };
}
