/**
 * The allow/refuse check's rule (billing/usageCheck.ts), shared by the database path and the API's
 * in-process view, and the wire form of the counter notifications that keep views fresh
 * (api/usage/counterPublisher.ts).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCatalog, type CatalogInput } from '../../billing/catalog.js';
import { admits } from '../../billing/usage.js';
import { checkNeedsBalance, decideUsageCheck } from '../../billing/usageCheck.js';
import { decodeCounterValues, encodeCounterValues, type CounterValue } from '../../api/usage/counterPublisher.js';
import { counterKey } from '../../store/usageLedger.js';
import { DEFAULT_CATALOG_PATH, loadCatalog } from '../../config/loadCatalog.js';

const catalog = loadCatalog(DEFAULT_CATALOG_PATH);
const CYCLE_END = Date.UTC(2026, 11, 1);
const BEFORE_END = CYCLE_END - 1;

/** The default catalog with a `metered` credits plan and past-due usage refused. */
function creditsCatalog(usageWhilePastDue: 'allow' | 'refuse') {
  const base = JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as CatalogInput;
  return parseCatalog({
    ...base,
    payments: { dunning: { usageWhilePastDue } },
    credits: { unit: 'money', packs: [{ id: 'usd_10', name: '$10', price: '10.00' }] },
    plans: [...base.plans, { id: 'metered', name: 'Metered', tier: 9, price: { monthly: '0' }, limits: { api_calls: { included: 10, overLimit: { policy: 'credits', unitPrice: '0.5' } } } }],
  });
}

const state = (planId: string, used: bigint, extra: { status?: string; balance?: bigint; cycleEnd?: number } = {}) =>
  ({ planId, status: extra.status ?? 'active', cycleEnd: extra.cycleEnd ?? CYCLE_END, used, ...(extra.balance === undefined ? {} : { balance: extra.balance }) });

describe('decideUsageCheck', () => {
  it('reject plans allow up to the limit, inclusive, and refuse past it', () => {
    expect(decideUsageCheck(catalog, state('free', 999n), { metric: 'api_calls', quantity: 1n, now: BEFORE_END })).toEqual({ allowed: true, used: 999n, limit: 1000n, policy: 'reject' });
    expect(decideUsageCheck(catalog, state('free', 999n), { metric: 'api_calls', quantity: 2n, now: BEFORE_END })).toMatchObject({ allowed: false });
    expect(decideUsageCheck(catalog, state('free', 1000n), { metric: 'api_calls', quantity: 1n, now: BEFORE_END })).toMatchObject({ allowed: false, used: 1000n });
  });

  it('agrees with admits() for every used and quantity on every reject or bill plan', () => {
    fc.assert(fc.property(fc.constantFrom('free', 'basic', 'pro', 'enterprise'), fc.bigInt({ min: 0n, max: 2_000_000n }), fc.bigInt({ min: 1n, max: 2_000_000n }), (planId, used, quantity) => {
      const limit = catalog.plans.find((p) => p.id === planId)!.limits.api_calls!;
      const answer = decideUsageCheck(catalog, state(planId, used), { metric: 'api_calls', quantity, now: BEFORE_END });
      expect(answer.allowed).toBe(admits({ used, quantity, included: BigInt(limit.included), policy: limit.overLimit.policy as 'reject' | 'bill' }));
      expect(answer.limit).toBe(BigInt(limit.included));
    }));
  });

  it('Enterprise (bill) allows past the limit', () => {
    expect(decideUsageCheck(catalog, state('enterprise', 5_000_000n), { metric: 'api_calls', quantity: 1n, now: BEFORE_END })).toMatchObject({ allowed: true, policy: 'bill' });
  });

  it('once the cycle has ended the renewal is due: nothing is used in the new cycle', () => {
    expect(decideUsageCheck(catalog, state('free', 1000n), { metric: 'api_calls', quantity: 1000n, now: CYCLE_END })).toMatchObject({ allowed: true, used: 0n });
  });

  it('a metric the plan does not list is refused; a plan the catalog lacks is unavailable', () => {
    expect(decideUsageCheck(catalog, state('free', 0n), { metric: 'storage_gb', quantity: 1n, now: BEFORE_END })).toMatchObject({ allowed: false, limit: 0n, policy: 'reject' });
    expect(decideUsageCheck(catalog, state('gone', 7n), { metric: 'api_calls', quantity: 1n, now: BEFORE_END })).toEqual({ allowed: false, used: 7n, limit: 0n, policy: 'unavailable' });
  });

  it('past due refuses only when the catalog says so', () => {
    expect(decideUsageCheck(creditsCatalog('refuse'), state('free', 0n, { status: 'past_due' }), { metric: 'api_calls', quantity: 1n, now: BEFORE_END }).allowed).toBe(false);
    expect(decideUsageCheck(creditsCatalog('allow'), state('free', 0n, { status: 'past_due' }), { metric: 'api_calls', quantity: 1n, now: BEFORE_END }).allowed).toBe(true);
  });

  it('credits: allowed while the balance pays for the part past the included usage', () => {
    const credits = creditsCatalog('allow');
    expect(checkNeedsBalance(credits, 'metered', 'api_calls')).toBe(true);
    expect(checkNeedsBalance(credits, 'free', 'api_calls')).toBe(false);
    expect(checkNeedsBalance(credits, 'gone', 'api_calls')).toBe(false);
    // 8 used of 10 included: 5 more is 3 past, at 0.5 = 1.5 in nanos.
    const needed = 1_500_000_000n;
    expect(decideUsageCheck(credits, state('metered', 8n, { balance: needed }), { metric: 'api_calls', quantity: 5n, now: BEFORE_END }))
      .toEqual({ allowed: true, used: 8n, limit: 10n, policy: 'credits', credits: { creditsNeeded: needed, balance: needed } });
    expect(decideUsageCheck(credits, state('metered', 8n, { balance: needed - 1n }), { metric: 'api_calls', quantity: 5n, now: BEFORE_END }).allowed).toBe(false);
    expect(decideUsageCheck(credits, state('metered', 8n), { metric: 'api_calls', quantity: 2n, now: BEFORE_END })).toMatchObject({ allowed: true, credits: { creditsNeeded: 0n, balance: 0n } });
  });
});

describe('counter notifications (wire form)', () => {
  const value = fc.record({
    customerId: fc.string({ minLength: 1, maxLength: 80 }),
    metric: fc.string({ minLength: 1, maxLength: 40 }),
    cycleStart: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    used: fc.bigInt({ min: 0n, max: 9_223_372_036_854_775_807n }),
  });

  it('round-trips any values, in payloads PostgreSQL takes (under 8,000 bytes)', () => {
    fc.assert(fc.property(fc.array(value, { maxLength: 400 }), (values: CounterValue[]) => {
      const payloads = encodeCounterValues(values);
      for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8_000);
      expect(payloads.flatMap((p) => decodeCounterValues(p)!)).toEqual(values);
    }));
  });

  it('refuses anything not in the wire form', () => {
    for (const bad of ['', 'null', '{}', '[1]', '[["c","m",1]]', '[["c","m",1,"-5"]]', '[["c","m",1.5,"5"]]', '[["c","m",1,5]]', '[["c","m",1,"99999999999999999999"]]', '[[1,"m",1,"5"]]']) {
      expect(decodeCounterValues(bad)).toBeUndefined();
    }
    expect(decodeCounterValues('[]')).toEqual([]);
  });

  it('keys counters by customer, metric and cycle without collisions between fields', () => {
    expect(counterKey('a', 'bc', 1)).not.toBe(counterKey('ab', 'c', 1));
  });
});
