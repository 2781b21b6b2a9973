/**
 * Billing time. A usage cycle is `cycleDays` long (30 by default); a monthly billing period is one
 * cycle and a yearly one is 12 cycles, so usage cycles never straddle a billing period. All times
 * are epoch milliseconds so that the workflow (whose clock is Date.now()) and activities agree.
 */
import { CYCLES_PER_YEAR, type Interval } from './catalog.js';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

export function cycleMs(cycleDays: number): number {
  return cycleDays * DAY_MS;
}

export function cyclesPerPeriod(interval: Interval): number {
  return interval === 'yearly' ? CYCLES_PER_YEAR : 1;
}

export interface Span {
  start: number;
  end: number;
}

/** The billing period and usage cycle that contain `now`, for a subscription whose period began at `periodStart`. */
export function currentSpans(args: { periodStart: number; now: number; interval: Interval; cycleDays: number }): {
  period: Span;
  cycle: Span;
} {
  const cycle = cycleMs(args.cycleDays);
  const periodLength = cycle * cyclesPerPeriod(args.interval);
  const periodsElapsed = Math.max(0, Math.floor((args.now - args.periodStart) / periodLength));
  const periodStart = args.periodStart + periodsElapsed * periodLength;
  const cyclesElapsed = Math.max(0, Math.floor((args.now - periodStart) / cycle));
  const cycleStart = periodStart + cyclesElapsed * cycle;
  return {
    period: { start: periodStart, end: periodStart + periodLength },
    cycle: { start: cycleStart, end: cycleStart + cycle },
  };
}

export function nextCycle(cycle: Span): Span {
  const length = cycle.end - cycle.start;
  return { start: cycle.end, end: cycle.end + length };
}

export function periodOf(start: number, interval: Interval, cycleDays: number): Span {
  return { start, end: start + cycleMs(cycleDays) * cyclesPerPeriod(interval) };
}
