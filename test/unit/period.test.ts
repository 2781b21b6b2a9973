import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { DAY_MS, currentSpans, cycleMs, cyclesPerPeriod, nextCycle, periodOf } from '../../billing/period.js';

const T0 = Date.UTC(2025, 0, 1); // 2025-01-01T00:00:00.000Z
const CYCLE = 30 * DAY_MS;
const YEAR = 12 * CYCLE;
const iso = (ms: number) => new Date(ms).toISOString();

describe('lengths', () => {
  it('a day is 86,400,000 ms and a 30-day cycle 2,592,000,000 ms', () => {
    expect(DAY_MS).toBe(86_400_000);
    expect(cycleMs(30)).toBe(2_592_000_000);
    expect(cycleMs(7)).toBe(604_800_000);
    expect(cycleMs(1)).toBe(DAY_MS);
  });

  it('a monthly period is 1 cycle and a yearly one 12', () => {
    expect(cyclesPerPeriod('monthly')).toBe(1);
    expect(cyclesPerPeriod('yearly')).toBe(12);
  });
});

describe('currentSpans', () => {
  it('monthly, new subscription: period and cycle are the same 30 days from now', () => {
    const spans = currentSpans({ periodStart: T0, now: T0, interval: 'monthly', cycleDays: 30 });
    expect(spans).toEqual({ period: { start: T0, end: T0 + CYCLE }, cycle: { start: T0, end: T0 + CYCLE } });
    expect(iso(spans.period.end)).toBe('2025-01-31T00:00:00.000Z');
  });

  it('yearly, new subscription: a 360-day period whose first cycle is 30 days', () => {
    const spans = currentSpans({ periodStart: T0, now: T0, interval: 'yearly', cycleDays: 30 });
    expect(spans).toEqual({ period: { start: T0, end: T0 + YEAR }, cycle: { start: T0, end: T0 + CYCLE } });
    expect(iso(spans.period.end)).toBe('2025-12-27T00:00:00.000Z');
  });

  it('monthly, imported 10 days into the period: the period already under way', () => {
    const start = T0 - 10 * DAY_MS;
    const spans = currentSpans({ periodStart: start, now: T0, interval: 'monthly', cycleDays: 30 });
    expect(spans).toEqual({ period: { start, end: start + CYCLE }, cycle: { start, end: start + CYCLE } });
    expect(iso(spans.period.end)).toBe('2025-01-21T00:00:00.000Z');
  });

  it('monthly, imported start 75 days ago: the cycle containing now (3rd cycle, starting 15 days ago)', () => {
    const start = T0 - 75 * DAY_MS;
    const spans = currentSpans({ periodStart: start, now: T0, interval: 'monthly', cycleDays: 30 });
    const expected = { start: T0 - 15 * DAY_MS, end: T0 + 15 * DAY_MS };
    expect(spans).toEqual({ period: expected, cycle: expected });
  });

  it('yearly, imported 100 days into the year: same period, 4th cycle (days 90–120)', () => {
    const start = T0 - 100 * DAY_MS;
    const spans = currentSpans({ periodStart: start, now: T0, interval: 'yearly', cycleDays: 30 });
    expect(spans).toEqual({
      period: { start, end: start + YEAR },
      cycle: { start: start + 90 * DAY_MS, end: start + 120 * DAY_MS },
    });
  });

  it('yearly, imported start 400 days ago: the second year, its 2nd cycle', () => {
    const start = T0 - 400 * DAY_MS;
    const spans = currentSpans({ periodStart: start, now: T0, interval: 'yearly', cycleDays: 30 });
    expect(spans).toEqual({
      period: { start: start + 360 * DAY_MS, end: start + 720 * DAY_MS },
      cycle: { start: start + 390 * DAY_MS, end: start + 420 * DAY_MS },
    });
  });

  it('exactly at a cycle end the next cycle is current (spans are half-open [start, end))', () => {
    const monthly = currentSpans({ periodStart: T0, now: T0 + CYCLE, interval: 'monthly', cycleDays: 30 });
    expect(monthly.period).toEqual({ start: T0 + CYCLE, end: T0 + 2 * CYCLE });
    expect(monthly.cycle).toEqual({ start: T0 + CYCLE, end: T0 + 2 * CYCLE });
    const yearly = currentSpans({ periodStart: T0, now: T0 + CYCLE, interval: 'yearly', cycleDays: 30 });
    expect(yearly.period).toEqual({ start: T0, end: T0 + YEAR });
    expect(yearly.cycle).toEqual({ start: T0 + CYCLE, end: T0 + 2 * CYCLE });
  });

  it('one millisecond before a cycle end the cycle is still current', () => {
    const spans = currentSpans({ periodStart: T0, now: T0 + CYCLE - 1, interval: 'monthly', cycleDays: 30 });
    expect(spans.cycle).toEqual({ start: T0, end: T0 + CYCLE });
    expect(spans.period).toEqual({ start: T0, end: T0 + CYCLE });
  });

  it('exactly at a yearly period end the next year begins', () => {
    const spans = currentSpans({ periodStart: T0, now: T0 + YEAR, interval: 'yearly', cycleDays: 30 });
    expect(spans.period).toEqual({ start: T0 + YEAR, end: T0 + 2 * YEAR });
    expect(spans.cycle).toEqual({ start: T0 + YEAR, end: T0 + YEAR + CYCLE });
    const before = currentSpans({ periodStart: T0, now: T0 + YEAR - 1, interval: 'yearly', cycleDays: 30 });
    expect(before.period).toEqual({ start: T0, end: T0 + YEAR });
    expect(before.cycle).toEqual({ start: T0 + 11 * CYCLE, end: T0 + YEAR });
  });

  it('a period start in the future stays the start', () => {
    const start = T0 + 5 * DAY_MS;
    const spans = currentSpans({ periodStart: start, now: T0, interval: 'monthly', cycleDays: 30 });
    expect(spans.period).toEqual({ start, end: start + CYCLE });
    expect(spans.cycle).toEqual({ start, end: start + CYCLE });
  });

  it('other cycle lengths: 7-day cycles, yearly = 84 days', () => {
    const spans = currentSpans({ periodStart: T0, now: T0 + 20 * DAY_MS, interval: 'yearly', cycleDays: 7 });
    expect(spans.period).toEqual({ start: T0, end: T0 + 84 * DAY_MS });
    expect(spans.cycle).toEqual({ start: T0 + 14 * DAY_MS, end: T0 + 21 * DAY_MS });
  });

  it('the cycle contains now, lies inside the period, and is aligned to the period start (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000 * DAY_MS }),
        fc.integer({ min: 0, max: 3_000 * DAY_MS }),
        fc.constantFrom('monthly' as const, 'yearly' as const),
        fc.integer({ min: 1, max: 366 }),
        (startOffset, elapsed, interval, cycleDays) => {
          const periodStart = T0 - 4_000 * DAY_MS + startOffset;
          const now = periodStart + elapsed;
          const { period, cycle } = currentSpans({ periodStart, now, interval, cycleDays });
          const c = cycleMs(cycleDays);
          expect(cycle.start <= now && now < cycle.end).toBe(true);
          expect(period.start <= now && now < period.end).toBe(true);
          expect(cycle.end - cycle.start).toBe(c);
          expect(period.end - period.start).toBe(c * cyclesPerPeriod(interval));
          expect(period.start <= cycle.start && cycle.end <= period.end).toBe(true);
          expect((cycle.start - periodStart) % c).toBe(0);
          expect((period.start - periodStart) % (c * cyclesPerPeriod(interval))).toBe(0);
        },
      ),
    );
  });
});

describe('nextCycle', () => {
  it('starts where the cycle ends and keeps its length', () => {
    expect(nextCycle({ start: T0, end: T0 + CYCLE })).toEqual({ start: T0 + CYCLE, end: T0 + 2 * CYCLE });
    expect(nextCycle({ start: 100, end: 107 })).toEqual({ start: 107, end: 114 });
  });

  it('twelve next cycles from a yearly period start reach the period end', () => {
    let cycle = { start: T0, end: T0 + CYCLE };
    for (let i = 0; i < 11; i++) cycle = nextCycle(cycle);
    expect(cycle).toEqual({ start: T0 + 11 * CYCLE, end: T0 + YEAR });
    expect(nextCycle(cycle).start).toBe(periodOf(T0, 'yearly', 30).end);
  });
});

describe('periodOf', () => {
  it('monthly is one cycle, yearly twelve', () => {
    expect(periodOf(T0, 'monthly', 30)).toEqual({ start: T0, end: T0 + 2_592_000_000 });
    expect(periodOf(T0, 'yearly', 30)).toEqual({ start: T0, end: T0 + 31_104_000_000 });
    expect(periodOf(T0, 'monthly', 7)).toEqual({ start: T0, end: T0 + 7 * DAY_MS });
    expect(periodOf(T0, 'yearly', 7)).toEqual({ start: T0, end: T0 + 84 * DAY_MS });
  });

  it('agrees with currentSpans at the period start', () => {
    for (const interval of ['monthly', 'yearly'] as const) {
      expect(currentSpans({ periodStart: T0, now: T0, interval, cycleDays: 30 }).period).toEqual(periodOf(T0, interval, 30));
    }
  });
});
