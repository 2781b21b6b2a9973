import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requirePlan } from '../../billing/catalog.js';
import { addLines, draftInvoice } from '../../billing/invoiceDraft.js';
import { overageCharges, overageLines } from '../../billing/overage.js';
import { DAY_MS } from '../../billing/period.js';
import { admits, crossedThresholds, cycleForEvent, percentUsed } from '../../billing/usage.js';
import { loadCatalog } from '../../config/loadCatalog.js';

const catalog = loadCatalog();

describe('admits', () => {
  it('a Free customer\'s 1,000th call is allowed and the 1,001st refused', () => {
    expect(admits({ used: 999n, quantity: 1n, included: 1000n, policy: 'reject' })).toBe(true);
    expect(admits({ used: 1000n, quantity: 1n, included: 1000n, policy: 'reject' })).toBe(false);
  });
  it('refuses a quantity that would pass the limit, even if some of it fits', () => {
    expect(admits({ used: 995n, quantity: 10n, included: 1000n, policy: 'reject' })).toBe(false);
    expect(admits({ used: 990n, quantity: 10n, included: 1000n, policy: 'reject' })).toBe(true);
  });
  it('never refuses on a billed plan', () => {
    expect(admits({ used: 5_000_000n, quantity: 1_000n, included: 1_000_000n, policy: 'bill' })).toBe(true);
  });
});

describe('crossedThresholds', () => {
  it('80% when reaching 80% of the limit, 100% when reaching the limit', () => {
    expect(crossedThresholds(799n, 800n, 1000n)).toEqual([80]);
    expect(crossedThresholds(800n, 900n, 1000n)).toEqual([]);
    expect(crossedThresholds(999n, 1000n, 1000n)).toEqual([100]);
    expect(crossedThresholds(0n, 1000n, 1000n)).toEqual([80, 100]);
    expect(crossedThresholds(1000n, 2000n, 1000n)).toEqual([]);
    expect(crossedThresholds(0n, 5n, 0n)).toEqual([]);
  });
  it('over any sequence of increments, each threshold is crossed exactly once when usage ends at or past it', () => {
    fc.assert(fc.property(fc.array(fc.bigInt({ min: 1n, max: 500n }), { maxLength: 40 }), fc.bigInt({ min: 1n, max: 5000n }), (steps, included) => {
      let used = 0n;
      const seen: number[] = [];
      for (const step of steps) {
        seen.push(...crossedThresholds(used, used + step, included));
        used += step;
      }
      const expected = [80, 100].filter((t) => used * 100n >= included * BigInt(t));
      expect(seen).toEqual(expected);
    }));
  });
});

describe('percentUsed and cycleForEvent', () => {
  it('percent to two decimals', () => {
    expect(percentUsed(0n, 1000n)).toBe(0);
    expect(percentUsed(1n, 3n)).toBe(33.33);
    expect(percentUsed(1_500_000n, 1_000_000n)).toBe(150);
  });
  it('places events in the current, a later, or a closed cycle', () => {
    const current = { start: 30 * DAY_MS, end: 60 * DAY_MS };
    expect(cycleForEvent(30 * DAY_MS, current)).toEqual(current);
    expect(cycleForEvent(60 * DAY_MS - 1, current)).toEqual(current);
    expect(cycleForEvent(60 * DAY_MS, current)).toEqual({ start: 60 * DAY_MS, end: 90 * DAY_MS });
    expect(cycleForEvent(30 * DAY_MS - 1, current)).toBe('closed');
  });
});

describe('overage', () => {
  const enterprise = requirePlan(catalog, 'enterprise');
  const cycle = { start: 0, end: 30 * DAY_MS };
  it('10,000 calls over on Enterprise cost exactly $5.00', () => {
    const charges = overageCharges({ plan: enterprise, metrics: catalog.metrics, currency: 'USD', usage: new Map([['api_calls', 1_010_000n]]) });
    expect(charges).toEqual([{ metric: 'api_calls', included: 1_000_000n, used: 1_010_000n, overage: 10_000n, unitPrice: '0.0005', amountMinor: 500n }]);
    const [line] = overageLines(catalog.metrics, charges, cycle);
    expect(line).toMatchObject({ kind: 'overage', quantity: '10000', unitPrice: '0.0005', amountMinor: '500' });
  });
  it('rounds once, half away from zero: 1 call over is $0.0005 → $0.00; 3 calls → $0.0015 → $0.00; 10 calls → $0.01', () => {
    const amount = (used: bigint) => overageCharges({ plan: enterprise, metrics: catalog.metrics, currency: 'USD', usage: new Map([['api_calls', used]]) })[0]?.amountMinor;
    expect(amount(1_000_001n)).toBe(0n);
    expect(amount(1_000_010n)).toBe(1n);
    expect(amount(1_000_030n)).toBe(2n); // $0.015 → $0.02
    expect(amount(1_000_000n)).toBeUndefined();
  });
  it('refusing plans have no overage', () => {
    expect(overageCharges({ plan: requirePlan(catalog, 'pro'), metrics: catalog.metrics, currency: 'USD', usage: new Map([['api_calls', 400_000n]]) })).toEqual([]);
  });
  it('overage joins the next period\'s fee invoice, or makes its own when no fee is due', () => {
    const fee = draftInvoice({ catalog, customerId: 'c', reason: 'renewal', planId: 'enterprise', interval: 'monthly', seats: 1, period: { start: cycle.end, end: cycle.end + 30 * DAY_MS } });
    const charges = overageCharges({ plan: enterprise, metrics: catalog.metrics, currency: 'USD', usage: new Map([['api_calls', 1_010_000n]]) });
    const lines = overageLines(catalog.metrics, charges, cycle);
    const joined = addLines({ draft: fee, lines, customerId: 'c', currency: 'USD', cycle });
    expect(joined?.totalMinor).toBe('10500');
    expect(joined?.lines.map((l) => l.kind)).toEqual(['plan', 'overage']);
    const alone = addLines({ draft: undefined, lines, customerId: 'c', currency: 'USD', cycle });
    expect(alone).toMatchObject({ reason: 'overage', totalMinor: '500', periodStart: cycle.start, periodEnd: cycle.end });
    expect(addLines({ draft: undefined, lines: [], customerId: 'c', currency: 'USD', cycle })).toBeUndefined();
  });
});
