/**
 * The downgrade usage rule (PRODUCT.md): a downgrade is refused when usage so far exceeds
 * min(targetLimit × (elapsed ÷ cycle) × factor, targetLimit), elapsed being the exact time since
 * the cycle began. Usage 0 is always allowed; usage at or above the target's full limit always
 * refused. Computed exactly in integers: no floating point decides a refusal.
 */
import { parseNanos } from './money.js';

const NANOS = 1_000_000_000n;

/** The allowance as a whole number of units (rounded down), for showing to people. */
export function downgradeAllowance(args: { targetLimit: bigint; elapsedMs: number; cycleMs: number; factor: string }): bigint {
  const elapsed = BigInt(Math.max(0, Math.min(args.elapsedMs, args.cycleMs)));
  const scaled = (args.targetLimit * elapsed * parseNanos(args.factor)) / (BigInt(args.cycleMs) * NANOS);
  return scaled < args.targetLimit ? scaled : args.targetLimit;
}

export function usageFitsDowngrade(args: { used: bigint; targetLimit: bigint; elapsedMs: number; cycleMs: number; factor: string }): boolean {
  if (args.used === 0n) return true;
  if (args.used >= args.targetLimit) return false;
  const elapsed = BigInt(Math.max(0, Math.min(args.elapsedMs, args.cycleMs)));
  // used ≤ targetLimit × elapsed/cycle × factor, cross-multiplied to stay exact.
  return args.used * BigInt(args.cycleMs) * NANOS <= args.targetLimit * elapsed * parseNanos(args.factor);
}
