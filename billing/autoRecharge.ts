/**
 * Auto-recharge rules (PRODUCT.md, "Credits"; issue 10). Pure: the activity that decides a
 * recharge reads the balance, the customer's settings and what was spent this cycle, and asks
 * these functions how many packs to buy.
 *
 * A recharge buys whole packs: as many as it takes to bring the balance back to the threshold in
 * one charge (at least one, at most MAX_PACKS_PER_RECHARGE), but never more than the spending
 * limit left in the billing cycle.
 */
import type { Catalog } from './catalog.js';
import { parseMinor } from './money.js';
import { HOUR_MS } from './period.js';

/**
 * Most packs one recharge buys: a threshold far above the pack (a typo, or a pack changed in the
 * catalog) must not turn into one enormous charge; a balance still short after it is topped up
 * by the follow-up recharges, each within the spending limit.
 */
export const MAX_PACKS_PER_RECHARGE = 100;

export type RechargeDecision =
  | { kind: 'buy'; packs: number; creditsNanos: bigint; amountMinor: bigint }
  /** The balance is at or above the threshold (a purchase meanwhile, say). */
  | { kind: 'not_needed' }
  /** Even one pack would go past the spending limit left in this cycle. */
  | { kind: 'limit_reached'; spentMinor: bigint; limitMinor: bigint };

export function rechargeDecision(args: {
  balanceNanos: bigint;
  thresholdNanos: bigint;
  packCreditsNanos: bigint;
  packPriceMinor: bigint;
  spendingLimitMinor: bigint;
  spentMinor: bigint;
}): RechargeDecision {
  const shortfall = args.thresholdNanos - args.balanceNanos;
  if (shortfall <= 0n) return { kind: 'not_needed' };
  if (args.packCreditsNanos <= 0n || args.packPriceMinor <= 0n) throw new RangeError('a pack must hold credits and cost money');
  const needed = (shortfall + args.packCreditsNanos - 1n) / args.packCreditsNanos;
  const wanted = needed < BigInt(MAX_PACKS_PER_RECHARGE) ? needed : BigInt(MAX_PACKS_PER_RECHARGE);
  const left = args.spendingLimitMinor - args.spentMinor;
  const affordable = left > 0n ? left / args.packPriceMinor : 0n;
  const packs = wanted < affordable ? wanted : affordable;
  if (packs <= 0n) return { kind: 'limit_reached', spentMinor: args.spentMinor, limitMinor: args.spendingLimitMinor };
  return { kind: 'buy', packs: Number(packs), creditsNanos: packs * args.packCreditsNanos, amountMinor: packs * args.packPriceMinor };
}

/** Most auto-recharge spends per cycle for a customer who set no limit of their own (minor units). */
export function defaultSpendingLimitMinor(catalog: Catalog): bigint {
  return parseMinor(catalog.credits?.autoRecharge.defaultSpendingLimit ?? '50.00', catalog.currency);
}

/**
 * When a declined recharge is tried again, after `failures` failed attempts (the first included)
 * that began at `firstFailureAt`; undefined when none is left (auto-recharge then turns off).
 */
export function rechargeRetryAt(catalog: Catalog, firstFailureAt: number, failures: number): number | undefined {
  const hours = catalog.credits?.autoRecharge.retryHours ?? [];
  const h = hours[failures - 1];
  return h === undefined ? undefined : firstFailureAt + Math.round(h * HOUR_MS);
}
