import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCatalog, type Catalog, type CatalogInput } from '../../billing/catalog.js';
import { defaultSpendingLimitMinor, MAX_PACKS_PER_RECHARGE, rechargeDecision, rechargeRetryAt } from '../../billing/autoRecharge.js';
import { findPack, packCreditsNanos, packPriceMinor } from '../../billing/creditPricing.js';
import { HOUR_MS } from '../../billing/period.js';
import { DEFAULT_CATALOG_PATH, loadCatalog } from '../../config/loadCatalog.js';

const NANOS = 1_000_000_000n;
const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const usd = loadCatalog(path.join(configDir, 'examples/usage-metrics.json'));
const eur = loadCatalog(path.join(configDir, 'examples/seats-eur.json'));
const noCredits = loadCatalog(DEFAULT_CATALOG_PATH);

/** A minimal valid catalog with the given credits section (and currency). */
function catalogWith(credits: CatalogInput['credits'], currency = 'USD'): Catalog {
  return parseCatalog({
    currency,
    fallbackPlan: 'free',
    credits,
    metrics: [{ id: 'calls', name: 'Calls', unit: 'call' }],
    plans: [{ id: 'free', name: 'Free', tier: 0, price: { monthly: '0' }, limits: { calls: { included: 10, overLimit: { policy: 'reject' } } } }],
  });
}

const standard = findPack(eur.credits!, 'standard')!;
/** The seats-eur Standard pack: 2,500,000 tokens for 10.00 EUR. */
const STANDARD = { packCreditsNanos: packCreditsNanos(standard), packPriceMinor: packPriceMinor(standard, 'EUR') };
const tokens = (n: bigint) => n * NANOS;

describe('rechargeDecision', () => {
  const base = { ...STANDARD, thresholdNanos: tokens(500_000n), spendingLimitMinor: 5_000n, spentMinor: 0n };

  it('the Standard pack is 2,500,000 tokens for 1000 minor units', () => {
    expect(STANDARD).toEqual({ packCreditsNanos: 2_500_000n * NANOS, packPriceMinor: 1_000n });
  });

  it('not needed at or above the threshold', () => {
    expect(rechargeDecision({ ...base, balanceNanos: tokens(500_000n) })).toEqual({ kind: 'not_needed' });
    expect(rechargeDecision({ ...base, balanceNanos: tokens(10_000_000n) })).toEqual({ kind: 'not_needed' });
    // even with the limit spent: nothing is needed, so nothing is reached
    expect(rechargeDecision({ ...base, balanceNanos: tokens(500_000n), spentMinor: 5_000n })).toEqual({ kind: 'not_needed' });
    // a threshold of 0 and an empty balance
    expect(rechargeDecision({ ...base, thresholdNanos: 0n, balanceNanos: 0n })).toEqual({ kind: 'not_needed' });
  });

  it('one nano under the threshold buys one pack', () => {
    expect(rechargeDecision({ ...base, balanceNanos: tokens(500_000n) - 1n })).toEqual({ kind: 'buy', packs: 1, creditsNanos: tokens(2_500_000n), amountMinor: 1_000n });
  });

  it('one pack when the shortfall is under one pack', () => {
    expect(rechargeDecision({ ...base, balanceNanos: 0n })).toEqual({ kind: 'buy', packs: 1, creditsNanos: tokens(2_500_000n), amountMinor: 1_000n });
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(2_500_000n), balanceNanos: 0n })).toEqual({ kind: 'buy', packs: 1, creditsNanos: tokens(2_500_000n), amountMinor: 1_000n });
  });

  it('ceil(shortfall ÷ pack) packs for a larger shortfall', () => {
    // shortfall 2,500,001 tokens → 2 packs
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(2_500_001n), balanceNanos: 0n })).toMatchObject({ kind: 'buy', packs: 2, amountMinor: 2_000n });
    // shortfall exactly 3 packs → 3
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(7_000_000n), balanceNanos: -tokens(500_000n) })).toEqual({
      kind: 'buy',
      packs: 3,
      creditsNanos: tokens(7_500_000n),
      amountMinor: 3_000n,
    });
    // a negative balance counts in full: -1,000,000 against a threshold of 2,000,000 is 3,000,000 short → 2 packs
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(2_000_000n), balanceNanos: -tokens(1_000_000n) })).toMatchObject({ kind: 'buy', packs: 2 });
  });

  it('capped by the spending limit left: limit 50.00, spent 40.00, Standard at 10.00 → at most 1', () => {
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(10_000_000n), balanceNanos: 0n, spendingLimitMinor: 5_000n, spentMinor: 4_000n })).toEqual({
      kind: 'buy',
      packs: 1,
      creditsNanos: tokens(2_500_000n),
      amountMinor: 1_000n,
    });
    // 4 wanted, 2 affordable (25.00 left → 2 × 10.00)
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(10_000_000n), balanceNanos: 0n, spentMinor: 2_500n })).toMatchObject({ kind: 'buy', packs: 2, amountMinor: 2_000n });
    // exactly affordable
    expect(rechargeDecision({ ...base, thresholdNanos: tokens(10_000_000n), balanceNanos: 0n, spentMinor: 1_000n })).toMatchObject({ kind: 'buy', packs: 4, amountMinor: 4_000n });
  });

  it('limit_reached when even one pack does not fit', () => {
    const reached = { kind: 'limit_reached', spentMinor: 4_001n, limitMinor: 5_000n };
    expect(rechargeDecision({ ...base, balanceNanos: 0n, spentMinor: 4_001n })).toEqual(reached);
    expect(rechargeDecision({ ...base, balanceNanos: 0n, spentMinor: 5_000n })).toEqual({ kind: 'limit_reached', spentMinor: 5_000n, limitMinor: 5_000n });
    // spent past the limit (a limit lowered meanwhile)
    expect(rechargeDecision({ ...base, balanceNanos: 0n, spentMinor: 6_000n })).toEqual({ kind: 'limit_reached', spentMinor: 6_000n, limitMinor: 5_000n });
    // a limit of 0 turns recharging off in effect
    expect(rechargeDecision({ ...base, balanceNanos: 0n, spendingLimitMinor: 0n })).toEqual({ kind: 'limit_reached', spentMinor: 0n, limitMinor: 0n });
    // a pack dearer than the whole limit
    const enterprise = findPack(eur.credits!, 'enterprise')!;
    expect(rechargeDecision({ ...base, packCreditsNanos: packCreditsNanos(enterprise), packPriceMinor: packPriceMinor(enterprise, 'EUR'), balanceNanos: 0n, spendingLimitMinor: 4_999n })).toEqual({
      kind: 'limit_reached',
      spentMinor: 0n,
      limitMinor: 4_999n,
    });
  });

  it('a pack without credits or price is refused (when a purchase is needed)', () => {
    expect(() => rechargeDecision({ ...base, balanceNanos: 0n, packCreditsNanos: 0n })).toThrow(RangeError);
    expect(() => rechargeDecision({ ...base, balanceNanos: 0n, packPriceMinor: 0n })).toThrow('a pack must hold credits and cost money');
    expect(() => rechargeDecision({ ...base, balanceNanos: 0n, packPriceMinor: -1n })).toThrow(RangeError);
  });

  it('money packs (usage-metrics $50): threshold $10.00, balance $3.25 → one $50 pack', () => {
    const pack = findPack(usd.credits!, 'usd_50')!;
    expect(
      rechargeDecision({
        balanceNanos: 3_250_000_000n,
        thresholdNanos: 10n * NANOS,
        packCreditsNanos: packCreditsNanos(pack),
        packPriceMinor: packPriceMinor(pack, 'USD'),
        spendingLimitMinor: defaultSpendingLimitMinor(usd),
        spentMinor: 0n,
      }),
    ).toEqual({ kind: 'buy', packs: 1, creditsNanos: 50n * NANOS, amountMinor: 5_000n });
  });

  it('properties: never past the limit, at least one pack, and the fewest packs that reach the threshold unless capped', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }),
        fc.bigInt({ min: 0n, max: 10n ** 18n }),
        fc.bigInt({ min: 1n, max: 10n ** 17n }),
        fc.bigInt({ min: 1n, max: 1_000_000n }),
        fc.bigInt({ min: 0n, max: 100_000_000n }),
        fc.bigInt({ min: 0n, max: 100_000_000n }),
        (balanceNanos, thresholdNanos, packCredits, packPrice, spendingLimitMinor, spentMinor) => {
          const decision = rechargeDecision({ balanceNanos, thresholdNanos, packCreditsNanos: packCredits, packPriceMinor: packPrice, spendingLimitMinor, spentMinor });
          if (balanceNanos >= thresholdNanos) {
            expect(decision).toEqual({ kind: 'not_needed' });
            return;
          }
          if (decision.kind === 'limit_reached') {
            expect(decision).toEqual({ kind: 'limit_reached', spentMinor, limitMinor: spendingLimitMinor });
            expect(spentMinor + packPrice > spendingLimitMinor).toBe(true);
            return;
          }
          expect(decision.kind).toBe('buy');
          if (decision.kind !== 'buy') return;
          const packs = BigInt(decision.packs);
          expect(Number.isSafeInteger(decision.packs)).toBe(true);
          expect(packs >= 1n).toBe(true);
          expect(decision.creditsNanos).toBe(packs * packCredits);
          expect(decision.amountMinor).toBe(packs * packPrice);
          expect(decision.amountMinor + spentMinor <= spendingLimitMinor).toBe(true);
          expect(decision.packs <= MAX_PACKS_PER_RECHARGE).toBe(true);
          const reaches = balanceNanos + decision.creditsNanos >= thresholdNanos;
          const capped = decision.amountMinor + packPrice + spentMinor > spendingLimitMinor;
          if (decision.packs === MAX_PACKS_PER_RECHARGE && !reaches) {
            // capped by the most packs one recharge buys: the follow-ups buy the rest
            return;
          }
          if (!capped || reaches) {
            // the fewest packs that reach the threshold
            expect(reaches).toBe(true);
            expect(balanceNanos + decision.creditsNanos - packCredits < thresholdNanos).toBe(true);
          } else {
            // capped short of the threshold: as many packs as the limit left allows
            expect(packs).toBe((spendingLimitMinor - spentMinor) / packPrice);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('rechargeRetryAt', () => {
  const at = Date.UTC(2025, 0, 15, 12, 0, 0);

  it('the default [1, 6, 24] hours after the first failure', () => {
    expect(eur.credits?.autoRecharge.retryHours).toEqual([1, 6, 24]);
    expect(rechargeRetryAt(eur, at, 1)).toBe(at + HOUR_MS);
    expect(rechargeRetryAt(eur, at, 2)).toBe(at + 6 * HOUR_MS);
    expect(rechargeRetryAt(eur, at, 3)).toBe(at + 24 * HOUR_MS);
    expect(rechargeRetryAt(usd, at, 3)).toBe(at + 24 * HOUR_MS);
  });

  it('undefined after the last retry (auto-recharge then turns off)', () => {
    expect(rechargeRetryAt(eur, at, 4)).toBeUndefined();
    expect(rechargeRetryAt(eur, at, 10)).toBeUndefined();
  });

  it('the schema default is [1, 6, 24] when the catalog gives no autoRecharge', () => {
    const catalog = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }] });
    expect(catalog.credits?.autoRecharge).toEqual({ defaultSpendingLimit: '50.00', retryHours: [1, 6, 24] });
    expect([1, 2, 3, 4].map((n) => rechargeRetryAt(catalog, at, n))).toEqual([at + HOUR_MS, at + 6 * HOUR_MS, at + 24 * HOUR_MS, undefined]);
  });

  it('custom and fractional retry hours; an empty list never retries', () => {
    const catalog = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }], autoRecharge: { retryHours: [0.5, 2.25] } });
    expect(rechargeRetryAt(catalog, at, 1)).toBe(at + 30 * 60_000);
    expect(rechargeRetryAt(catalog, at, 2)).toBe(at + 135 * 60_000);
    expect(rechargeRetryAt(catalog, at, 3)).toBeUndefined();
    const never = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }], autoRecharge: { retryHours: [] } });
    expect(rechargeRetryAt(never, at, 1)).toBeUndefined();
  });

  it('a catalog without credits never retries', () => {
    expect(rechargeRetryAt(noCredits, at, 1)).toBeUndefined();
  });
});

describe('defaultSpendingLimitMinor', () => {
  it('the catalog default in minor units', () => {
    expect(defaultSpendingLimitMinor(eur)).toBe(5_000n);
    expect(defaultSpendingLimitMinor(usd)).toBe(5_000n);
    const custom = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }], autoRecharge: { defaultSpendingLimit: '250.50' } });
    expect(defaultSpendingLimitMinor(custom)).toBe(25_050n);
    const kwd = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.000' }], autoRecharge: { defaultSpendingLimit: '12.345' } }, 'KWD');
    expect(defaultSpendingLimitMinor(kwd)).toBe(12_345n);
  });

  it('50.00 when the catalog does not say (schema default), and for a catalog without credits', () => {
    expect(defaultSpendingLimitMinor(catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }] }))).toBe(5_000n);
    expect(defaultSpendingLimitMinor(noCredits)).toBe(5_000n);
  });
});

describe('the most packs one recharge buys', () => {
  it('a threshold far above the pack buys MAX_PACKS_PER_RECHARGE packs, not one enormous charge', () => {
    const decision = rechargeDecision({ balanceNanos: 0n, thresholdNanos: 10n ** 24n, packCreditsNanos: 10n ** 9n, packPriceMinor: 500n, spendingLimitMinor: 10n ** 15n, spentMinor: 0n });
    expect(decision).toEqual({ kind: 'buy', packs: MAX_PACKS_PER_RECHARGE, creditsNanos: BigInt(MAX_PACKS_PER_RECHARGE) * 10n ** 9n, amountMinor: BigInt(MAX_PACKS_PER_RECHARGE) * 500n });
  });
});
