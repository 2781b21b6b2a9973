import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCatalog, requirePlan, type Catalog, type CatalogInput, type CreditsPolicy } from '../../billing/catalog.js';
import {
  CreditPurchaseError,
  creditDraw,
  creditTiers,
  creditUnitOf,
  creditsMoneyNanos,
  customAmountCreditsNanos,
  findPack,
  formatCredits,
  nanosToMinor,
  packCreditsNanos,
  packPriceMinor,
  parseCredits,
  pricePurchase,
  requireCreditUnit,
  tieredCostNanos,
  type CreditPurchaseChoice,
  type CreditUnit,
} from '../../billing/creditPricing.js';
import { formatNanos, parseNanos } from '../../billing/money.js';
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
    plans: [
      { id: 'free', name: 'Free', tier: 0, price: { monthly: '0' }, limits: { calls: { included: 10, overLimit: { policy: 'credits', unitPrice: '0.0005' } } } },
    ],
  });
}

/** Tiers in the shape tieredCostNanos takes, from [upTo, price decimal] pairs. */
function tiers(...pairs: Array<[number | undefined, string]>): Array<{ upTo: bigint | undefined; priceNanos: bigint }> {
  return pairs.map(([upTo, price]) => ({ upTo: upTo === undefined ? undefined : BigInt(upTo), priceNanos: parseNanos(price) }));
}

const unitPrice = (price: string): CreditsPolicy => ({ policy: 'credits', unitPrice: price });

function purchaseErrorOf(action: () => unknown): CreditPurchaseError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CreditPurchaseError);
    return error as CreditPurchaseError;
  }
  throw new Error('expected a CreditPurchaseError, but nothing was thrown');
}

describe('creditUnitOf / requireCreditUnit', () => {
  it('money credits: the id and name are the currency, one credit is worth one currency unit', () => {
    expect(creditUnitOf(usd)).toEqual({ id: 'USD', name: 'USD', valueNanos: NANOS, money: true });
    const chf = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }] }, 'CHF');
    expect(creditUnitOf(chf)).toEqual({ id: 'CHF', name: 'CHF', valueNanos: NANOS, money: true });
  });

  it('the unit defaults to money when the credits section does not name one', () => {
    const catalog = catalogWith({ packs: [{ id: 'p', name: 'P', price: '20.00' }] });
    expect(catalog.credits?.unit).toBe('money');
    expect(creditUnitOf(catalog)?.money).toBe(true);
  });

  it('named units: their own id and name, worth their value in nanos of the currency', () => {
    expect(creditUnitOf(eur)).toEqual({ id: 'tokens', name: 'tokens', valueNanos: 5_000n, money: false });
    const gems = catalogWith({ unit: { id: 'gems', name: 'gems', value: '0.25' }, packs: [{ id: 'p', name: 'P', credits: '40', price: '10.00' }] });
    expect(creditUnitOf(gems)).toEqual({ id: 'gems', name: 'gems', valueNanos: 250_000_000n, money: false });
  });

  it('a catalog without credits has no unit; requireCreditUnit throws', () => {
    expect(creditUnitOf(noCredits)).toBeUndefined();
    expect(() => requireCreditUnit(noCredits)).toThrow(RangeError);
    expect(() => requireCreditUnit(noCredits)).toThrow('this catalog has no credits');
    expect(requireCreditUnit(eur)).toEqual(creditUnitOf(eur));
  });
});

describe('creditTiers', () => {
  it('a unitPrice is one open-ended tier', () => {
    expect(creditTiers(unitPrice('0.0005'))).toEqual([{ upTo: undefined, priceNanos: 500_000n }]);
    expect(creditTiers(unitPrice('1'))).toEqual([{ upTo: undefined, priceNanos: NANOS }]);
  });

  it('tiers keep their bounds (as bigint) and prices (in nanos)', () => {
    const business = requirePlan(eur, 'business').limits.enrichment_tokens!.overLimit as CreditsPolicy;
    expect(creditTiers(business)).toEqual([
      { upTo: 10_000_000n, priceNanos: NANOS },
      { upTo: undefined, priceNanos: 800_000_000n },
    ]);
  });
});

describe('tieredCostNanos', () => {
  const single = tiers([undefined, '0.0005']);
  const two = tiers([100, '2'], [undefined, '1']);
  const three = tiers([10, '3'], [20, '2'], [undefined, '1']);

  it('a single tier: units × price', () => {
    expect(tieredCostNanos(single, 0n, 1n)).toBe(500_000n);
    expect(tieredCostNanos(single, 0n, 10_000n)).toBe(5n * NANOS);
    expect(tieredCostNanos(single, 1_000_000n, 1_010_000n)).toBe(5n * NANOS);
  });

  it('empty or reversed ranges cost nothing', () => {
    for (const t of [single, two, three]) {
      expect(tieredCostNanos(t, 0n, 0n)).toBe(0n);
      expect(tieredCostNanos(t, 50n, 50n)).toBe(0n);
      expect(tieredCostNanos(t, 100n, 100n)).toBe(0n);
      expect(tieredCostNanos(t, 60n, 40n)).toBe(0n);
    }
  });

  it('within the first tier', () => {
    expect(tieredCostNanos(two, 0n, 100n)).toBe(200n * NANOS);
    expect(tieredCostNanos(two, 10n, 20n)).toBe(20n * NANOS);
  });

  it('across a tier boundary: each unit at the price of its tier', () => {
    // units 90..99 at 2, 100..109 at 1
    expect(tieredCostNanos(two, 90n, 110n)).toBe(30n * NANOS);
    expect(tieredCostNanos(two, 0n, 101n)).toBe(201n * NANOS);
    expect(tieredCostNanos(two, 99n, 101n)).toBe(3n * NANOS);
  });

  it('starting mid-tier and crossing several boundaries', () => {
    // 5..9 at 3 (5 units), 10..19 at 2 (10), 20..24 at 1 (5)
    expect(tieredCostNanos(three, 5n, 25n)).toBe((15n + 20n + 5n) * NANOS);
    // 15..19 at 2, 20..29 at 1
    expect(tieredCostNanos(three, 15n, 30n)).toBe((10n + 10n) * NANOS);
  });

  it('entirely in a later tier', () => {
    expect(tieredCostNanos(two, 100n, 150n)).toBe(50n * NANOS);
    expect(tieredCostNanos(two, 1_000n, 1_001n)).toBe(NANOS);
    expect(tieredCostNanos(three, 12n, 18n)).toBe(12n * NANOS);
    expect(tieredCostNanos(three, 40n, 50n)).toBe(10n * NANOS);
  });

  it('exactly at boundaries: upTo is exclusive of the next tier (unit 100 is the first of the second tier)', () => {
    expect(tieredCostNanos(two, 0n, 100n)).toBe(200n * NANOS); // ends exactly at the boundary
    expect(tieredCostNanos(two, 100n, 101n)).toBe(NANOS); // starts exactly at it
    expect(tieredCostNanos(two, 99n, 100n)).toBe(2n * NANOS); // the last unit of tier one
    expect(tieredCostNanos(three, 10n, 20n)).toBe(20n * NANOS); // a whole middle tier
    expect(tieredCostNanos(three, 0n, 20n)).toBe(50n * NANOS);
  });

  it('fractional prices stay exact', () => {
    const t = tiers([3, '0.000000001'], [undefined, '0.333333333']);
    expect(tieredCostNanos(t, 0n, 6n)).toBe(3n + 3n * 333_333_333n);
  });

  it('agrees with pricing each unit on its own (brute force)', () => {
    const priceOf = (unit: bigint, t: typeof three) => t.find((tier) => tier.upTo === undefined || unit < tier.upTo)!.priceNanos;
    for (let from = 0n; from <= 30n; from++) {
      for (let to = from; to <= 30n; to++) {
        let expected = 0n;
        for (let u = from; u < to; u++) expected += priceOf(u, three);
        expect(tieredCostNanos(three, from, to)).toBe(expected);
      }
    }
  });
});

describe('creditDraw', () => {
  const policy = unitPrice('0.0005');

  it('within the included quantity: nothing drawn', () => {
    expect(creditDraw({ used: 0n, quantity: 10n, included: 1_000n, policy })).toEqual({ overBefore: 0n, overAfter: 0n, creditsNanos: 0n });
    // up to the limit exactly
    expect(creditDraw({ used: 990n, quantity: 10n, included: 1_000n, policy })).toEqual({ overBefore: 0n, overAfter: 0n, creditsNanos: 0n });
  });

  it('an event of 0 draws nothing, even past the limit', () => {
    expect(creditDraw({ used: 1_500n, quantity: 0n, included: 1_000n, policy })).toEqual({ overBefore: 500n, overAfter: 500n, creditsNanos: 0n });
  });

  it('straddling the limit draws only the units past it', () => {
    expect(creditDraw({ used: 990n, quantity: 20n, included: 1_000n, policy })).toEqual({ overBefore: 0n, overAfter: 10n, creditsNanos: 5_000_000n });
    expect(creditDraw({ used: 999n, quantity: 2n, included: 1_000n, policy })).toEqual({ overBefore: 0n, overAfter: 1n, creditsNanos: 500_000n });
  });

  it('entirely past the limit draws every unit', () => {
    expect(creditDraw({ used: 1_200n, quantity: 30n, included: 1_000n, policy })).toEqual({ overBefore: 200n, overAfter: 230n, creditsNanos: 15_000_000n });
    expect(creditDraw({ used: 1_000n, quantity: 1n, included: 1_000n, policy })).toEqual({ overBefore: 0n, overAfter: 1n, creditsNanos: 500_000n });
  });

  it('an included quantity of 0 draws from the first unit', () => {
    expect(creditDraw({ used: 0n, quantity: 4n, included: 0n, policy: unitPrice('0.25') }).creditsNanos).toBe(NANOS);
  });

  it('exact: 10,000 calls at 0.0005 draw exactly 5 credits', () => {
    const draw = creditDraw({ used: 30_000n, quantity: 10_000n, included: 30_000n, policy });
    expect(draw.creditsNanos).toBe(5_000_000_000n);
    expect(formatCredits(draw.creditsNanos, creditUnitOf(usd)!, 'USD')).toBe('5.00');
    // and one call at a time adds up to the same, with no rounding on the way
    let sum = 0n;
    for (let i = 0n; i < 10_000n; i++) sum += creditDraw({ used: 30_000n + i, quantity: 1n, included: 30_000n, policy }).creditsNanos;
    expect(sum).toBe(5_000_000_000n);
  });

  it('graduated tiers price over the units past the limit in the cycle (usage-metrics starter build minutes)', () => {
    const starter = requirePlan(usd, 'starter').limits.build_minutes!;
    const p = starter.overLimit as CreditsPolicy;
    expect(starter.included).toBe(1_000);
    // the 10,000th unit past the limit at 0.008, the 10,001st at 0.006
    expect(creditDraw({ used: 10_999n, quantity: 2n, included: 1_000n, policy: p })).toEqual({ overBefore: 9_999n, overAfter: 10_001n, creditsNanos: 14_000_000n });
    // straddling the limit and the tier boundary at once: 10,000 × 0.008 + 500 × 0.006 = 83
    expect(creditDraw({ used: 500n, quantity: 11_000n, included: 1_000n, policy: p }).creditsNanos).toBe(83n * NANOS);
  });

  it('token tiers (seats-eur business): 1 token per token, then 0.8 past 10,000,000 over', () => {
    const business = requirePlan(eur, 'business').limits.enrichment_tokens!;
    const p = business.overLimit as CreditsPolicy;
    expect(creditDraw({ used: 34_000_000n, quantity: 2_000_000n, included: 25_000_000n, policy: p })).toEqual({
      overBefore: 9_000_000n,
      overAfter: 11_000_000n,
      creditsNanos: 1_800_000n * NANOS,
    });
    const team = requirePlan(eur, 'team').limits.enrichment_tokens!;
    expect(creditDraw({ used: 4_999_000n, quantity: 3_000n, included: BigInt(team.included), policy: team.overLimit as CreditsPolicy }).creditsNanos).toBe(2_000n * NANOS);
  });

  describe('properties', () => {
    /** Random valid tiers: strictly ascending upTo bounds, the last open-ended; prices in nanos up to 10 credits. */
    const tiersArb = fc
      .tuple(fc.uniqueArray(fc.integer({ min: 1, max: 5_000 }), { maxLength: 5 }), fc.array(fc.bigInt({ min: 0n, max: 10n * NANOS }), { minLength: 6, maxLength: 6 }), fc.boolean())
      .map(([bounds, prices, single]): CreditsPolicy => {
        if (single) return { policy: 'credits', unitPrice: formatNanos(prices[0]!) };
        const sorted = [...bounds].sort((a, b) => a - b);
        return {
          policy: 'credits',
          tiers: [...sorted.map((upTo, i) => ({ upTo, unitPrice: formatNanos(prices[i]!) })), { unitPrice: formatNanos(prices[sorted.length]!) }],
        };
      });
    const qty = fc.bigInt({ min: 0n, max: 8_000n });

    it('drawing an event in two parts costs exactly what drawing it whole does (additivity)', () => {
      fc.assert(
        fc.property(tiersArb, qty, qty, qty, qty, (policy, included, used, q1, q2) => {
          const whole = creditDraw({ used, quantity: q1 + q2, included, policy });
          const first = creditDraw({ used, quantity: q1, included, policy });
          const second = creditDraw({ used: used + q1, quantity: q2, included, policy });
          expect(first.creditsNanos + second.creditsNanos).toBe(whole.creditsNanos);
          expect(first.overBefore).toBe(whole.overBefore);
          expect(second.overAfter).toBe(whole.overAfter);
          expect(first.overAfter).toBe(second.overBefore);
        }),
      );
    });

    it('tieredCostNanos splits at any point: [a, c) = [a, b) + [b, c)', () => {
      fc.assert(
        fc.property(tiersArb, qty, qty, qty, (policy, x, y, z) => {
          const [a, b, c] = [x, y, z].sort((p, q) => (p < q ? -1 : p > q ? 1 : 0)) as [bigint, bigint, bigint];
          const t = creditTiers(policy);
          expect(tieredCostNanos(t, a, b) + tieredCostNanos(t, b, c)).toBe(tieredCostNanos(t, a, c));
        }),
      );
    });

    it('a draw is never negative, and nothing is drawn until the included quantity is passed', () => {
      fc.assert(
        fc.property(tiersArb, qty, qty, qty, (policy, included, used, quantity) => {
          const draw = creditDraw({ used, quantity, included, policy });
          expect(draw.creditsNanos >= 0n).toBe(true);
          expect(draw.overAfter - draw.overBefore <= quantity).toBe(true);
          if (used + quantity <= included) expect(draw).toEqual({ overBefore: 0n, overAfter: 0n, creditsNanos: 0n });
        }),
      );
    });

    it('with a single unitPrice, a draw is units past the limit × price', () => {
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: 10n * NANOS }), qty, qty, qty, (price, included, used, quantity) => {
          const draw = creditDraw({ used, quantity, included, policy: unitPrice(formatNanos(price)) });
          expect(draw.creditsNanos).toBe((draw.overAfter - draw.overBefore) * price);
        }),
      );
    });
  });
});

describe('creditsMoneyNanos and nanosToMinor', () => {
  const tokens = creditUnitOf(eur)!;
  const dollars = creditUnitOf(usd)!;

  it('2,500,000 tokens at 0.000005 EUR are worth exactly 12.50 EUR', () => {
    const money = creditsMoneyNanos(2_500_000n * NANOS, tokens);
    expect(money).toBe(12_500_000_000n);
    expect(nanosToMinor(money, 'EUR')).toBe(1_250n);
    expect(formatNanos(money, 'EUR')).toBe('12.50');
  });

  it('money credits are worth themselves', () => {
    expect(creditsMoneyNanos(49_999_500_000n, dollars)).toBe(49_999_500_000n);
    expect(creditsMoneyNanos(0n, dollars)).toBe(0n);
  });

  it('rounds once to a nano of the currency, half away from zero', () => {
    // 0.0001 tokens × 5,000 nanos = 0.5 nano → 1; 0.000099999 tokens → 0.499995 → 0
    expect(creditsMoneyNanos(100_000n, tokens)).toBe(1n);
    expect(creditsMoneyNanos(99_999n, tokens)).toBe(0n);
    expect(creditsMoneyNanos(1n, tokens)).toBe(0n);
    expect(creditsMoneyNanos(-100_000n, tokens)).toBe(-1n);
    // one token is 5,000 nanos exactly
    expect(creditsMoneyNanos(NANOS, tokens)).toBe(5_000n);
  });

  it('nanosToMinor rounds half away from zero to the currency minor unit', () => {
    expect(nanosToMinor(5_000_000n, 'EUR')).toBe(1n); // 0.005 → 0.01
    expect(nanosToMinor(4_999_999n, 'EUR')).toBe(0n);
    expect(nanosToMinor(14_999_999n, 'EUR')).toBe(1n);
    expect(nanosToMinor(15_000_000n, 'EUR')).toBe(2n);
    expect(nanosToMinor(-5_000_000n, 'EUR')).toBe(-1n);
    expect(nanosToMinor(-4_999_999n, 'EUR')).toBe(0n);
    expect(nanosToMinor(0n, 'USD')).toBe(0n);
    expect(nanosToMinor(500_000_000n, 'JPY')).toBe(1n); // 0.5 yen → 1
    expect(nanosToMinor(499_999_999n, 'JPY')).toBe(0n);
    expect(nanosToMinor(500_000n, 'KWD')).toBe(1n); // 0.0005 KWD → 0.001
    expect(nanosToMinor(1_234_000_000n, 'KWD')).toBe(1_234n);
    expect(() => nanosToMinor(1n, 'XYZ')).toThrow(RangeError);
  });
});

describe('packs', () => {
  it('findPack by id', () => {
    expect(findPack(eur.credits!, 'standard')?.name).toBe('Standard');
    expect(findPack(eur.credits!, 'usd_50')).toBeUndefined();
  });

  it('packCreditsNanos: named-unit packs hold their credits; money packs their price', () => {
    expect(packCreditsNanos(findPack(eur.credits!, 'pro')!)).toBe(7_000_000n * NANOS);
    expect(packCreditsNanos(findPack(usd.credits!, 'usd_500')!)).toBe(500n * NANOS);
    expect(packPriceMinor(findPack(eur.credits!, 'pro')!, 'EUR')).toBe(2_500n);
    expect(packPriceMinor(findPack(usd.credits!, 'usd_5000')!, 'USD')).toBe(500_000n);
  });
});

describe('customAmountCreditsNanos', () => {
  it('money credits: the same amount', () => {
    expect(customAmountCreditsNanos(1_000n, 'USD', creditUnitOf(usd)!)).toBe(10n * NANOS);
    expect(customAmountCreditsNanos(1n, 'USD', creditUnitOf(usd)!)).toBe(10_000_000n);
    const jpy: CreditUnit = { id: 'JPY', name: 'JPY', valueNanos: NANOS, money: true };
    expect(customAmountCreditsNanos(500n, 'JPY', jpy)).toBe(500n * NANOS);
  });

  it('tokens: amount ÷ value (10.00 EUR at 0.000005 = 2,000,000 tokens)', () => {
    expect(customAmountCreditsNanos(1_000n, 'EUR', creditUnitOf(eur)!)).toBe(2_000_000n * NANOS);
    expect(customAmountCreditsNanos(1n, 'EUR', creditUnitOf(eur)!)).toBe(2_000n * NANOS);
  });

  it('rounded down to a nano of a credit: never more than was paid for', () => {
    const thirds: CreditUnit = { id: 'pts', name: 'points', valueNanos: 3_000n, money: false }; // 0.000003 each
    // 0.01 = 10,000,000 nanos ÷ 3,000 = 3,333.333333333… points
    expect(customAmountCreditsNanos(1n, 'USD', thirds)).toBe(3_333_333_333_333n);
    const sevenths: CreditUnit = { id: 'pts', name: 'points', valueNanos: 7n * NANOS, money: false }; // 7.00 each
    // 1.00 ÷ 7 = 0.142857142857… → 0.142857142
    expect(customAmountCreditsNanos(100n, 'USD', sevenths)).toBe(142_857_142n);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 9n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (amountMinor, valueNanos) => {
        const unit: CreditUnit = { id: 'u', name: 'u', valueNanos, money: false };
        const credits = customAmountCreditsNanos(amountMinor, 'USD', unit);
        const paid = amountMinor * 10_000_000n * NANOS; // nano-nanos of USD
        expect(credits * valueNanos <= paid).toBe(true);
        expect((credits + 1n) * valueNanos > paid).toBe(true);
      }),
    );
  });
});

describe('pricePurchase', () => {
  it.each([
    ['starter', 1_000_000n, 500n, 'Starter credit pack (1000000 tokens)'],
    ['standard', 2_500_000n, 1_000n, 'Standard credit pack (2500000 tokens)'],
    ['pro', 7_000_000n, 2_500n, 'Pro credit pack (7000000 tokens)'],
    ['enterprise', 15_000_000n, 5_000n, 'Enterprise credit pack (15000000 tokens)'],
  ])('seats-eur token pack %s: %s tokens for %s minor units', (packId, tokens, minor, description) => {
    expect(pricePurchase(eur, { packId })).toEqual({ packId, description, creditsNanos: tokens * NANOS, amountMinor: minor });
  });

  it.each([
    ['usd_50', 50n, '$50 credit pack (50.00 USD)'],
    ['usd_100', 100n, '$100 credit pack (100.00 USD)'],
    ['usd_500', 500n, '$500 credit pack (500.00 USD)'],
    ['usd_5000', 5_000n, '$5,000 credit pack (5000.00 USD)'],
  ])('usage-metrics money pack %s: %s USD of credits for the same', (packId, dollars, description) => {
    expect(pricePurchase(usd, { packId })).toEqual({ packId, description, creditsNanos: dollars * NANOS, amountMinor: dollars * 100n });
  });

  it('several packs at once multiply credits and price, and say how many', () => {
    expect(pricePurchase(eur, { packId: 'standard' }, 3)).toEqual({
      packId: 'standard',
      description: '3 × Standard credit pack (2500000 tokens)',
      creditsNanos: 7_500_000n * NANOS,
      amountMinor: 3_000n,
    });
  });

  it('custom amounts of money credits within [10.00, 10000.00], bounds included', () => {
    expect(pricePurchase(usd, { amount: '10.00' })).toEqual({ packId: null, description: 'Credits (10.00 USD)', creditsNanos: 10n * NANOS, amountMinor: 1_000n });
    expect(pricePurchase(usd, { amount: '10000' })).toEqual({ packId: null, description: 'Credits (10000.00 USD)', creditsNanos: 10_000n * NANOS, amountMinor: 1_000_000n });
    expect(pricePurchase(usd, { amount: '123.4' })).toEqual({ packId: null, description: 'Credits (123.40 USD)', creditsNanos: 123_400_000_000n, amountMinor: 12_340n });
  });

  it.each(['9.99', '0', '0.00', '10000.01', '1000000'])('custom amount %s is out of range', (amount) => {
    const error = purchaseErrorOf(() => pricePurchase(usd, { amount }));
    expect(error.code).toBe('amount_out_of_range');
    expect(error.name).toBe('CreditPurchaseError');
    expect(error.message).toBe('A custom amount is between 10.00 and 10000.00 USD.');
  });

  it.each(['10.001', '12.345', '', 'abc', '-20.00', '1e3', ' 20', '20.', '.5', '020.00'])('custom amount "%s" is invalid_amount', (amount) => {
    const error = purchaseErrorOf(() => pricePurchase(usd, { amount }));
    expect(error.code).toBe('invalid_amount');
    expect(error.message).toBe(`"${amount}" is not an amount of USD (at most 2 decimal places).`);
  });

  it('custom amounts of tokens buy amount ÷ value, rounded down', () => {
    const tokens = catalogWith({ unit: { id: 'tokens', name: 'tokens', value: '0.000003' }, packs: [], customAmount: { min: '0.01', max: '100.00' } });
    expect(pricePurchase(tokens, { amount: '0.01' })).toEqual({
      packId: null,
      description: 'Credits (3333.333333333 tokens)',
      creditsNanos: 3_333_333_333_333n,
      amountMinor: 1n,
    });
    expect(pricePurchase(tokens, { amount: '3.00' }).creditsNanos).toBe(1_000_000n * NANOS);
  });

  it('a catalog with packs only refuses custom amounts', () => {
    const error = purchaseErrorOf(() => pricePurchase(eur, { amount: '10.00' }));
    expect(error.code).toBe('custom_amount_not_offered');
    expect(error.message).toBe('This catalog sells credits in packs only; choose a packId.');
  });

  it('an unknown pack is unknown_pack, listing the packs', () => {
    const error = purchaseErrorOf(() => pricePurchase(eur, { packId: 'usd_50' }));
    expect(error.code).toBe('unknown_pack');
    expect(error.message).toBe('There is no credit pack "usd_50". Packs: starter, standard, pro, enterprise.');
    const customOnly = catalogWith({ customAmount: { min: '1.00', max: '5.00' } });
    expect(purchaseErrorOf(() => pricePurchase(customOnly, { packId: 'any' })).message).toBe('There is no credit pack "any". Packs: none.');
  });

  it('a catalog without credits is credits_not_offered, whatever is asked', () => {
    for (const choice of [{ packId: 'starter' }, { amount: '10.00' }] as CreditPurchaseChoice[]) {
      const error = purchaseErrorOf(() => pricePurchase(noCredits, choice));
      expect(error.code).toBe('credits_not_offered');
      expect(error.message).toBe('This catalog sells no credits.');
    }
  });

  it('JPY: custom amounts are whole yen', () => {
    const yen = catalogWith({ packs: [{ id: 'y1000', name: '¥1,000', price: '1000' }], customAmount: { min: '500', max: '100000' } }, 'JPY');
    expect(pricePurchase(yen, { amount: '1500' })).toEqual({ packId: null, description: 'Credits (1500 JPY)', creditsNanos: 1_500n * NANOS, amountMinor: 1_500n });
    expect(pricePurchase(yen, { packId: 'y1000' }).amountMinor).toBe(1_000n);
    expect(purchaseErrorOf(() => pricePurchase(yen, { amount: '1500.5' })).code).toBe('invalid_amount');
  });
});

describe('formatCredits and parseCredits', () => {
  const tokens = creditUnitOf(eur)!;
  const dollars = creditUnitOf(usd)!;

  it('money credits show the currency minor digits, and more when exact needs it', () => {
    expect(formatCredits(50n * NANOS, dollars, 'USD')).toBe('50.00');
    expect(formatCredits(49_999_500_000n, dollars, 'USD')).toBe('49.9995');
    expect(formatCredits(0n, dollars, 'USD')).toBe('0.00');
    expect(formatCredits(-1_500_000_000n, dollars, 'USD')).toBe('-1.50');
    expect(formatCredits(7n * NANOS, { id: 'JPY', name: 'JPY', valueNanos: NANOS, money: true }, 'JPY')).toBe('7');
  });

  it('named units show the shortest exact decimal', () => {
    expect(formatCredits(2_500_000n * NANOS, tokens, 'EUR')).toBe('2500000');
    expect(formatCredits(0n, tokens, 'EUR')).toBe('0');
    expect(formatCredits(1_800_000n * NANOS + 500_000_000n, tokens, 'EUR')).toBe('1800000.5');
    expect(formatCredits(1n, tokens, 'EUR')).toBe('0.000000001');
  });

  it('parseCredits reads what people type and refuses the rest', () => {
    expect(parseCredits('2500000')).toBe(2_500_000n * NANOS);
    expect(parseCredits('10.50')).toBe(10_500_000_000n);
    expect(parseCredits('0.000000001')).toBe(1n);
    for (const bad of ['', '-1', '1e6', '0.0000000001', 'ten']) expect(() => parseCredits(bad)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), (nanos) => {
        expect(parseCredits(formatCredits(nanos, tokens, 'EUR'))).toBe(nanos);
        expect(parseCredits(formatCredits(nanos, dollars, 'USD'))).toBe(nanos);
      }),
    );
  });
});

describe('pricePurchase pack counts', () => {
  const catalog = eur;
  it('refuses a count that is not a positive whole number', () => {
    for (const packs of [0, -1, 1.5, Number.NaN]) expect(() => pricePurchase(catalog, { packId: 'standard' }, packs)).toThrow(RangeError);
  });
});
