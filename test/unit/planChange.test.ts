import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../billing/catalog.js';
import { downgradeAllowance, usageFitsDowngrade } from '../../billing/downgradeAllowance.js';
import { DAY_MS } from '../../billing/period.js';
import { evaluatePlanChange, type PlanChangeState } from '../../billing/planChange.js';
import { prorate } from '../../billing/proration.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { readFileSync } from 'node:fs';

const catalog = loadCatalog();
const seatsCatalog = parseCatalog(JSON.parse(readFileSync(new URL('../../config/examples/seats-eur.json', import.meta.url), 'utf8')));
const CYCLE = 30 * DAY_MS;
const T0 = Date.UTC(2026, 10, 1);

function state(planId: string, overrides: Partial<PlanChangeState> = {}): PlanChangeState {
  return { planId, interval: 'monthly', seats: 1, period: { start: T0, end: T0 + CYCLE }, cycle: { start: T0, end: T0 + CYCLE }, cancelAtPeriodEnd: false, downgradesThisCycle: 0, ...overrides };
}
const usage = (n: number) => new Map([['api_calls', BigInt(n)]]);

describe('the downgrade allowance (PRODUCT.md worked example: Pro → Basic, 5,000 used)', () => {
  const rule = (days: number, used = 5_000n) => usageFitsDowngrade({ used, targetLimit: 30_000n, elapsedMs: days * DAY_MS, cycleMs: CYCLE, factor: '1.1' });
  it('4 days in the allowance is 4,400: refused', () => {
    expect(downgradeAllowance({ targetLimit: 30_000n, elapsedMs: 4 * DAY_MS, cycleMs: CYCLE, factor: '1.1' })).toBe(4_400n);
    expect(rule(4)).toBe(false);
    expect(rule(4.5)).toBe(false); // early on day 5: 4,950
  });
  it('14 days in it is 15,400 and 24 days in 26,400: allowed', () => {
    expect(downgradeAllowance({ targetLimit: 30_000n, elapsedMs: 14 * DAY_MS, cycleMs: CYCLE, factor: '1.1' })).toBe(15_400n);
    expect(downgradeAllowance({ targetLimit: 30_000n, elapsedMs: 24 * DAY_MS, cycleMs: CYCLE, factor: '1.1' })).toBe(26_400n);
    expect(rule(14)).toBe(true);
    expect(rule(24)).toBe(true);
  });
  it('near the end it is capped at the target limit; usage at the limit is always refused, 0 always allowed', () => {
    expect(downgradeAllowance({ targetLimit: 30_000n, elapsedMs: 29.9 * DAY_MS, cycleMs: CYCLE, factor: '1.1' })).toBe(30_000n);
    expect(rule(29.9, 29_999n)).toBe(true);
    expect(rule(29.9, 30_000n)).toBe(false);
    expect(rule(0, 0n)).toBe(true);
    expect(rule(0, 1n)).toBe(false);
  });
  it('is exact at the boundary: used equal to the allowance is allowed, one more refused', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 29 }), (days) => {
      const allowance = downgradeAllowance({ targetLimit: 30_000n, elapsedMs: days * DAY_MS, cycleMs: CYCLE, factor: '1.1' });
      if (allowance >= 30_000n) return;
      expect(rule(days, allowance)).toBe(true);
      expect(rule(days, allowance + 1n)).toBe(false);
    }));
  });
});

describe('evaluatePlanChange', () => {
  it('upgrade Basic → Pro halfway through charges half the difference, at once', () => {
    const decision = evaluatePlanChange({ catalog, state: state('basic'), request: { planId: 'pro' }, usage: usage(20_000), now: T0 + 15 * DAY_MS });
    expect(decision).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate' });
    if (!decision.allowed) throw new Error('refused');
    expect(decision.proration.netMinor).toBe(1000n); // ($30 − $10) × 15/30
    expect(decision.proration.lines).toHaveLength(1);
  });
  it('downgrade Pro → Basic: refused 4 days in, allowed 14 days in with the unused remainder credited', () => {
    const early = evaluatePlanChange({ catalog, state: state('pro'), request: { planId: 'basic' }, usage: usage(5_000), now: T0 + 4 * DAY_MS });
    expect(early).toMatchObject({ allowed: false, code: 'usage_exceeds_downgrade_allowance', details: { used: 5000, allowance: 4400, targetLimit: 30000 } });
    const later = evaluatePlanChange({ catalog, state: state('pro'), request: { planId: 'basic' }, usage: usage(5_000), now: T0 + 14 * DAY_MS });
    expect(later).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'immediate' });
    if (!later.allowed) throw new Error('refused');
    expect(later.proration.netMinor).toBe(-1067n); // −$20 × 16/30 = −$10.666… → −$10.67
  });
  it('refuses a second downgrade in the cycle, and any change while a cancellation is scheduled', () => {
    expect(evaluatePlanChange({ catalog, state: state('pro', { downgradesThisCycle: 1 }), request: { planId: 'basic' }, usage: usage(0), now: T0 + DAY_MS }))
      .toMatchObject({ allowed: false, code: 'downgrade_limit_reached' });
    expect(evaluatePlanChange({ catalog, state: state('pro', { downgradesThisCycle: 1 }), request: { planId: 'enterprise' }, usage: usage(0), now: T0 + DAY_MS }))
      .toMatchObject({ allowed: true, kind: 'upgrade' });
    expect(evaluatePlanChange({ catalog, state: state('pro', { cancelAtPeriodEnd: true }), request: { planId: 'enterprise' }, usage: usage(0), now: T0 + DAY_MS }))
      .toMatchObject({ allowed: false, code: 'cancellation_scheduled' });
  });
  it('refuses unknown plans, no-op changes and intervals not offered', () => {
    expect(evaluatePlanChange({ catalog, state: state('pro'), request: { planId: 'gold' }, usage: usage(0), now: T0 })).toMatchObject({ allowed: false, code: 'unknown_plan' });
    expect(evaluatePlanChange({ catalog, state: state('pro'), request: { planId: 'pro' }, usage: usage(0), now: T0 })).toMatchObject({ allowed: false, code: 'no_change' });
  });
  it('monthly → yearly starts a yearly period at the cycle start: unused month credited, rest of the year charged', () => {
    const d = evaluatePlanChange({ catalog, state: state('pro'), request: { interval: 'yearly' }, usage: usage(0), now: T0 + 10 * DAY_MS });
    if (!d.allowed) throw new Error('refused');
    expect(d.kind).toBe('interval_change');
    expect(d.proration.period).toEqual({ start: T0, end: T0 + 360 * DAY_MS });
    expect(d.proration.lines.map((l) => l.amountMinor)).toEqual(['-2000', '28000']); // −$30 × 20/30, +$288 × 350/360
  });
  it('seats: adding is charged prorated at once; removing waits for the next period; never below the minimum', () => {
    const team = state('team', { seats: 5 });
    const add = evaluatePlanChange({ catalog: seatsCatalog, state: team, request: { seats: 7 }, usage: new Map(), now: T0 + 15 * DAY_MS });
    if (!add.allowed) throw new Error('refused');
    expect(add).toMatchObject({ kind: 'seats_added', effective: 'immediate' });
    expect(add.proration.netMinor).toBeGreaterThan(0n);
    expect(evaluatePlanChange({ catalog: seatsCatalog, state: team, request: { seats: 4 }, usage: new Map(), now: T0 })).toMatchObject({ allowed: true, kind: 'seats_removed', effective: 'period_end' });
    expect(evaluatePlanChange({ catalog: seatsCatalog, state: team, request: { seats: 0 }, usage: new Map(), now: T0 })).toMatchObject({ allowed: false, code: 'invalid_seats' });
  });
});

describe('proration properties', () => {
  const plans = ['free', 'basic', 'pro', 'enterprise'];
  const arbitraryTime = fc.integer({ min: 0, max: CYCLE });

  it('an upgrade never credits and a downgrade never charges (same interval)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), arbitraryTime, (a, b, t) => {
      const p = prorate({ catalog, from: { planId: plans[a]!, interval: 'monthly', seats: 1 }, to: { planId: plans[b]!, interval: 'monthly', seats: 1 }, period: { start: T0, end: T0 + CYCLE }, cycleStart: T0, now: T0 + t });
      if (b > a) expect(p.netMinor >= 0n).toBe(true);
      if (b < a) expect(p.netMinor <= 0n).toBe(true);
      expect(p.lines.length).toBeLessThanOrEqual(1); // one line, rounded once
    }));
  });

  it('upgrade then downgrade back within a cycle never nets the customer money', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), arbitraryTime, arbitraryTime, (low, step, t1, t2) => {
      const high = Math.min(3, low + step);
      const [up, down] = t1 <= t2 ? [t1, t2] : [t2, t1];
      const period = { start: T0, end: T0 + CYCLE };
      const charge = prorate({ catalog, from: { planId: plans[low]!, interval: 'monthly', seats: 1 }, to: { planId: plans[high]!, interval: 'monthly', seats: 1 }, period, cycleStart: T0, now: T0 + up }).netMinor;
      const credit = prorate({ catalog, from: { planId: plans[high]!, interval: 'monthly', seats: 1 }, to: { planId: plans[low]!, interval: 'monthly', seats: 1 }, period, cycleStart: T0, now: T0 + down }).netMinor;
      expect(charge + credit >= 0n).toBe(true);
    }));
  });

  it('a same-interval change is one line within half a cent of the exact prorated difference', () => {
    const monthly = [0n, 1000n, 3000n, 10000n]; // cents: Free, Basic, Pro, Enterprise
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), arbitraryTime, (a, b, t) => {
      const p = prorate({ catalog, from: { planId: plans[a]!, interval: 'monthly', seats: 1 }, to: { planId: plans[b]!, interval: 'monthly', seats: 1 }, period: { start: T0, end: T0 + CYCLE }, cycleStart: T0, now: T0 + t });
      // exact = (new − old) × remaining / whole, in cents; |line − exact| ≤ ½  ⇔  |2·line·whole − 2·diff·remaining| ≤ whole
      const exactNumerator = (monthly[b]! - monthly[a]!) * BigInt(CYCLE - t);
      const whole = BigInt(CYCLE);
      const line = p.lines[0] ? BigInt(p.lines[0].amountMinor) : 0n;
      const error = 2n * line * whole - 2n * exactNumerator;
      expect(error <= whole && error >= -whole).toBe(true);
      expect(p.netMinor).toBe(line);
    }));
  });
});
