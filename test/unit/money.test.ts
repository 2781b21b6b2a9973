import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  CURRENCY_MINOR_DIGITS,
  DECIMAL_PATTERN,
  NANO_DIGITS,
  divideRoundHalfAwayFromZero,
  formatMinor,
  formatNanos,
  isCurrency,
  lineAmountMinor,
  minorDigits,
  moneyView,
  parseMinor,
  parseNanos,
} from '../../billing/money.js';

/** Nanos in one minor unit of a currency with `digits` minor digits. */
const nanosPerMinor = (digits: number): bigint => 10n ** BigInt(NANO_DIGITS - digits);

/** An independent oracle: the exact rational n/d rounded half away from zero via quotient and remainder. */
function roundRational(n: bigint, d: bigint): bigint {
  const sign = (n < 0n) !== (d < 0n) && n !== 0n ? -1n : 1n;
  const an = n < 0n ? -n : n;
  const ad = d < 0n ? -d : d;
  const q = an / ad;
  const r = an % ad;
  return sign * (2n * r >= ad ? q + 1n : q);
}

/** Canonical decimal strings: no leading zeros, 1–9 fraction digits not ending in 0, or no fraction. */
const canonicalDecimal = fc
  .tuple(
    fc.oneof(fc.constant('0'), fc.bigInt({ min: 1n, max: 10n ** 15n }).map(String)),
    fc.option(
      fc.string({ unit: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), minLength: 1, maxLength: NANO_DIGITS }).filter((s) => !s.endsWith('0')),
      { nil: undefined },
    ),
  )
  .map(([whole, fraction]) => (fraction === undefined ? whole : `${whole}.${fraction}`));

describe('currencies', () => {
  it('knows minor digits of USD, EUR, JPY, BHD', () => {
    expect(minorDigits('USD')).toBe(2);
    expect(minorDigits('EUR')).toBe(2);
    expect(minorDigits('JPY')).toBe(0);
    expect(minorDigits('KRW')).toBe(0);
    expect(minorDigits('BHD')).toBe(3);
    expect(minorDigits('KWD')).toBe(3);
  });

  it('refuses unknown currencies, including lowercase codes', () => {
    expect(isCurrency('USD')).toBe(true);
    expect(isCurrency('usd')).toBe(false);
    expect(isCurrency('XYZ')).toBe(false);
    expect(isCurrency('toString')).toBe(false);
    expect(isCurrency('')).toBe(false);
    expect(() => minorDigits('XYZ')).toThrow(RangeError);
    expect(() => minorDigits('usd')).toThrow('unknown currency usd');
  });

  // isCurrency() uses Object.hasOwn, but minorDigits() indexes the plain object directly, so
  // inherited Object.prototype keys are found: minorDigits('constructor') returns the Object
  // function instead of throwing, and formatMinor(1n, 'toString') then fails with a SyntaxError
  // from BigInt() rather than the documented RangeError.
  it('minorDigits refuses inherited Object.prototype keys (constructor, toString, __proto__) like isCurrency does', () => {
    for (const code of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(isCurrency(code)).toBe(false);
      expect(() => minorDigits(code)).toThrow(`unknown currency ${code}`);
      expect(() => formatMinor(1n, code)).toThrow(RangeError);
    }
  });

  it('every listed currency has 0, 2 or 3 minor digits', () => {
    for (const [code, digits] of Object.entries(CURRENCY_MINOR_DIGITS)) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect([0, 2, 3]).toContain(digits);
    }
  });
});

describe('parseNanos', () => {
  it.each([
    ['0', 0n],
    ['0.0', 0n],
    ['1', 1_000_000_000n],
    ['30', 30_000_000_000n],
    ['30.00', 30_000_000_000n],
    ['10.5', 10_500_000_000n],
    ['0.0005', 500_000n],
    ['0.000005', 5_000n],
    ['0.000000001', 1n],
    ['0.999999999', 999_999_999n],
    ['123456789.123456789', 123_456_789_123_456_789n],
    ['100.00', 100_000_000_000n],
  ])('parses %s as %s nanos', (text, nanos) => {
    expect(parseNanos(text)).toBe(nanos);
  });

  it('parses amounts far beyond Number.MAX_SAFE_INTEGER exactly', () => {
    expect(parseNanos('90071992547409931.5')).toBe(90_071_992_547_409_931_500_000_000n);
  });

  it.each([
    ['1.'],
    ['.5'],
    ['-1'],
    ['-0.5'],
    ['+1'],
    ['1e3'],
    ['1E3'],
    ['01'],
    ['00'],
    ['00.5'],
    ['0.0000000001'],
    ['1.1234567890'],
    [''],
    [' 1'],
    ['1 '],
    ['1,5'],
    ['1.5.0'],
    ['0x10'],
    ['Infinity'],
    ['NaN'],
    ['١'],
  ])('rejects %j', (text) => {
    expect(() => parseNanos(text)).toThrow(RangeError);
    expect(DECIMAL_PATTERN.test(text)).toBe(false);
  });

  it('names the bad string in the error', () => {
    expect(() => parseNanos('1e3')).toThrow('not a non-negative decimal with at most 9 places: "1e3"');
  });
});

describe('formatNanos', () => {
  it.each([
    [0n, undefined, '0'],
    [0n, 'USD', '0.00'],
    [0n, 'JPY', '0'],
    [0n, 'BHD', '0.000'],
    [500_000n, undefined, '0.0005'],
    [500_000n, 'USD', '0.0005'],
    [5_000n, 'EUR', '0.000005'],
    [1n, undefined, '0.000000001'],
    [30_000_000_000n, undefined, '30'],
    [30_000_000_000n, 'USD', '30.00'],
    [30_000_000_000n, 'JPY', '30'],
    [30_000_000_000n, 'BHD', '30.000'],
    [10_500_000_000n, undefined, '10.5'],
    [10_500_000_000n, 'USD', '10.50'],
    [288_000_000_000n, 'USD', '288.00'],
    [-500_000n, 'USD', '-0.0005'],
    [-10_500_000_000n, 'USD', '-10.50'],
    [-1n, undefined, '-0.000000001'],
  ])('formats %s nanos in %s as %s', (nanos, currency, text) => {
    expect(formatNanos(nanos, currency)).toBe(text);
  });

  it('refuses an unknown currency', () => {
    expect(() => formatNanos(1n, 'XYZ')).toThrow(RangeError);
  });
});

describe('formatMinor / parseMinor', () => {
  it.each([
    [500n, 'USD', '5.00'],
    [0n, 'USD', '0.00'],
    [1n, 'USD', '0.01'],
    [7n, 'USD', '0.07'],
    [99n, 'USD', '0.99'],
    [100n, 'USD', '1.00'],
    [123_456n, 'USD', '1234.56'],
    [-500n, 'USD', '-5.00'],
    [-1n, 'USD', '-0.01'],
    [-123_456n, 'EUR', '-1234.56'],
    [500n, 'JPY', '500'],
    [0n, 'JPY', '0'],
    [-500n, 'JPY', '-500'],
    [1n, 'BHD', '0.001'],
    [1_234n, 'BHD', '1.234'],
    [5_000n, 'BHD', '5.000'],
    [-1n, 'BHD', '-0.001'],
    [-12_050n, 'BHD', '-12.050'],
  ])('formatMinor(%s, %s) is %s', (minor, currency, text) => {
    expect(formatMinor(minor, currency)).toBe(text);
  });

  it('formats amounts beyond Number.MAX_SAFE_INTEGER exactly', () => {
    expect(formatMinor(123_456_789_012_345_678_901n, 'USD')).toBe('1234567890123456789.01');
  });

  it.each([
    ['5.00', 'USD', 500n],
    ['5', 'USD', 500n],
    ['5.5', 'USD', 550n],
    ['0.01', 'USD', 1n],
    ['0', 'USD', 0n],
    ['500', 'JPY', 500n],
    ['500.0', 'JPY', 500n],
    ['1.234', 'BHD', 1_234n],
    ['5', 'BHD', 5_000n],
  ])('parseMinor(%s, %s) is %s', (text, currency, minor) => {
    expect(parseMinor(text, currency)).toBe(minor);
  });

  it.each([
    ['5.001', 'USD'],
    ['0.0005', 'USD'],
    ['0.5', 'JPY'],
    ['500.01', 'JPY'],
    ['1.2345', 'BHD'],
    ['0.000000001', 'EUR'],
  ])('parseMinor refuses %s in %s (too many decimal places)', (text, currency) => {
    expect(() => parseMinor(text, currency)).toThrow(`${text} has more than ${minorDigits(currency)} decimal places for ${currency}`);
  });

  it('parseMinor refuses malformed strings and unknown currencies', () => {
    expect(() => parseMinor('-5.00', 'USD')).toThrow(RangeError);
    expect(() => parseMinor('5.', 'USD')).toThrow(RangeError);
    expect(() => parseMinor('', 'USD')).toThrow(RangeError);
    expect(() => parseMinor('5.00', 'XYZ')).toThrow('unknown currency XYZ');
  });

  it('moneyView pairs the formatted amount with its currency', () => {
    expect(moneyView(500n, 'USD')).toEqual({ amount: '5.00', currency: 'USD' });
    expect(moneyView(-1_234n, 'BHD')).toEqual({ amount: '-1.234', currency: 'BHD' });
    expect(moneyView(1_000n, 'JPY')).toEqual({ amount: '1000', currency: 'JPY' });
  });
});

describe('divideRoundHalfAwayFromZero', () => {
  it.each([
    // exact halves go away from zero, both signs
    [1n, 2n, 1n],
    [-1n, 2n, -1n],
    [3n, 2n, 2n],
    [-3n, 2n, -2n],
    [5n, 2n, 3n],
    [-5n, 2n, -3n],
    [25n, 10n, 3n],
    [-25n, 10n, -3n],
    [15n, 10n, 2n],
    [-15n, 10n, -2n],
    // non-halves go to the nearest
    [7n, 3n, 2n],
    [-7n, 3n, -2n],
    [8n, 3n, 3n],
    [-8n, 3n, -3n],
    [1n, 3n, 0n],
    [-1n, 3n, 0n],
    [2n, 3n, 1n],
    [-2n, 3n, -1n],
    [49n, 100n, 0n],
    [51n, 100n, 1n],
    [-49n, 100n, 0n],
    [-51n, 100n, -1n],
    [249_999n, 100_000n, 2n],
    [250_001n, 100_000n, 3n],
    // exact divisions
    [0n, 7n, 0n],
    [6n, 3n, 2n],
    [-6n, 3n, -2n],
    // negative denominators
    [5n, -2n, -3n],
    [-5n, -2n, 3n],
    [7n, -3n, -2n],
    [-8n, -3n, 3n],
  ])('%s / %s rounds to %s', (n, d, q) => {
    expect(divideRoundHalfAwayFromZero(n, d)).toBe(q);
  });

  it('refuses division by zero', () => {
    expect(() => divideRoundHalfAwayFromZero(1n, 0n)).toThrow('division by zero');
    expect(() => divideRoundHalfAwayFromZero(0n, 0n)).toThrow(RangeError);
  });

  it('equals the exact rational rounded half away from zero (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).filter((d) => d !== 0n),
        (n, d) => {
          expect(divideRoundHalfAwayFromZero(n, d)).toBe(roundRational(n, d));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is odd: rounding -n is minus rounding n (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 1n, max: 10n ** 12n }), (n, d) => {
        expect(divideRoundHalfAwayFromZero(-n, d)).toBe(-divideRoundHalfAwayFromZero(n, d));
        expect(divideRoundHalfAwayFromZero(n, -d)).toBe(-divideRoundHalfAwayFromZero(n, d));
      }),
    );
  });

  it('every exact half k + 1/2 rounds to k + 1 and -(k + 1/2) to -(k + 1) (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), (k, m) => {
        // (2k + 1) m / (2m) = k + 1/2 exactly
        expect(divideRoundHalfAwayFromZero((2n * k + 1n) * m, 2n * m)).toBe(k + 1n);
        expect(divideRoundHalfAwayFromZero(-(2n * k + 1n) * m, 2n * m)).toBe(-(k + 1n));
      }),
    );
  });
});

describe('lineAmountMinor', () => {
  it('prices PRODUCT.md\'s Enterprise overage: 10,000 extra calls × $0.0005 = 500 minor units = $5.00', () => {
    const minor = lineAmountMinor({ unitPriceNanos: parseNanos('0.0005'), quantity: 10_000n, currency: 'USD' });
    expect(minor).toBe(500n);
    expect(formatMinor(minor, 'USD')).toBe('5.00');
  });

  it('prices a token pack: 5.00 EUR / 1,000,000 tokens is 5,000 nanos a token', () => {
    const unit = parseNanos('5.00') / 1_000_000n;
    expect(unit).toBe(5_000n);
    expect(formatNanos(unit, 'EUR')).toBe('0.000005');
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 1_000_000n, currency: 'EUR' })).toBe(500n);
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 2_500_000n, currency: 'EUR' })).toBe(1_250n);
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 7_000_000n, currency: 'EUR' })).toBe(3_500n);
    // 1,000 tokens = 0.005 EUR = exactly half a cent → rounds up to 1 cent
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 1_000n, currency: 'EUR' })).toBe(1n);
    // 999 tokens = 0.4995 cent → 0
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 999n, currency: 'EUR' })).toBe(0n);
    // a single token is far below a cent
    expect(lineAmountMinor({ unitPriceNanos: unit, quantity: 1n, currency: 'EUR' })).toBe(0n);
  });

  it('rounds once over the whole line, not per unit', () => {
    // 3 × $0.004 = $0.012 → 1 cent (per-unit rounding would give 0 + 0 + 0 = 0)
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('0.004'), quantity: 3n, currency: 'USD' })).toBe(1n);
    // 3 × $0.005 = $0.015 → 2 cents (per-unit rounding would give 3)
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('0.005'), quantity: 3n, currency: 'USD' })).toBe(2n);
  });

  it('uses the currency\'s minor unit', () => {
    const nanos = parseNanos('1.2345');
    expect(lineAmountMinor({ unitPriceNanos: nanos, quantity: 1n, currency: 'USD' })).toBe(123n);
    expect(lineAmountMinor({ unitPriceNanos: nanos, quantity: 1n, currency: 'BHD' })).toBe(1_235n);
    expect(lineAmountMinor({ unitPriceNanos: nanos, quantity: 1n, currency: 'JPY' })).toBe(1n);
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('1.5'), quantity: 1n, currency: 'JPY' })).toBe(2n);
    expect(() => lineAmountMinor({ unitPriceNanos: nanos, quantity: 1n, currency: 'XYZ' })).toThrow(RangeError);
  });

  it('whole periods: plan prices', () => {
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('30.00'), quantity: 1n, currency: 'USD' })).toBe(3_000n);
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('288.00'), quantity: 1n, currency: 'USD' })).toBe(28_800n);
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('8.00'), quantity: 2n, currency: 'EUR' })).toBe(1_600n);
    expect(lineAmountMinor({ unitPriceNanos: 0n, quantity: 1n, currency: 'USD' })).toBe(0n);
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('30.00'), quantity: 0n, currency: 'USD' })).toBe(0n);
  });

  it('prorates with share/whole and rounds the exact result once', () => {
    const thirty = parseNanos('30.00');
    const ten = parseNanos('10.00');
    // 10 of 30 days of $30 = $10.00
    expect(lineAmountMinor({ unitPriceNanos: thirty, quantity: 1n, currency: 'USD', share: 10n, whole: 30n })).toBe(1_000n);
    // 1/3 of $10 = 333.33… cents → 333
    expect(lineAmountMinor({ unitPriceNanos: ten, quantity: 1n, currency: 'USD', share: 1n, whole: 3n })).toBe(333n);
    // 2/3 of $10 = 666.66… cents → 667
    expect(lineAmountMinor({ unitPriceNanos: ten, quantity: 1n, currency: 'USD', share: 2n, whole: 3n })).toBe(667n);
    // half of $0.05 = 2.5 cents → 3; as a credit (negative quantity) → -3
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('0.05'), quantity: 1n, currency: 'USD', share: 1n, whole: 2n })).toBe(3n);
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('0.05'), quantity: -1n, currency: 'USD', share: 1n, whole: 2n })).toBe(-3n);
    // shares in milliseconds: one day of a 30-day $100 cycle = 333.33… cents → 333
    const day = 86_400_000n;
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('100.00'), quantity: 1n, currency: 'USD', share: day, whole: 30n * day })).toBe(333n);
    // the (Pro − Basic) difference for 20 of 30 days: $20 × 2/3 = 1333.33… cents → 1333
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('20.00'), quantity: 1n, currency: 'USD', share: 20n * day, whole: 30n * day })).toBe(1_333n);
    // share = whole is the full price; share = 0 is nothing
    expect(lineAmountMinor({ unitPriceNanos: thirty, quantity: 1n, currency: 'USD', share: 7n, whole: 7n })).toBe(3_000n);
    expect(lineAmountMinor({ unitPriceNanos: thirty, quantity: 1n, currency: 'USD', share: 0n, whole: 7n })).toBe(0n);
  });

  it('prorates seats: 3 extra seats × 8.00 EUR for 15 of 30 days = 12.00 EUR', () => {
    expect(lineAmountMinor({ unitPriceNanos: parseNanos('8.00'), quantity: 3n, currency: 'EUR', share: 15n, whole: 30n })).toBe(1_200n);
  });

  it('refuses a non-positive proration whole', () => {
    expect(() => lineAmountMinor({ unitPriceNanos: 1n, quantity: 1n, currency: 'USD', share: 1n, whole: 0n })).toThrow('proration whole must be positive');
    expect(() => lineAmountMinor({ unitPriceNanos: 1n, quantity: 1n, currency: 'USD', share: 1n, whole: -1n })).toThrow(RangeError);
  });

  it('the rounding error is at most half a minor unit (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 13n }),
        fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }),
        fc.bigInt({ min: 1n, max: 10n ** 10n }),
        fc.bigInt({ min: 0n, max: 10n ** 10n }),
        fc.constantFrom('USD', 'JPY', 'BHD', 'EUR'),
        (unitPriceNanos, quantity, whole, shareSeed, currency) => {
          const share = shareSeed % (whole + 1n);
          const minor = lineAmountMinor({ unitPriceNanos, quantity, currency, share, whole });
          // exact value in minor units is numerator / denominator
          const numerator = unitPriceNanos * quantity * share;
          const denominator = whole * nanosPerMinor(minorDigits(currency));
          const error = minor * denominator - numerator;
          const absError = error < 0n ? -error : error;
          expect(2n * absError <= denominator).toBe(true);
          expect(minor).toBe(roundRational(numerator, denominator));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('without proration equals price × quantity rounded (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 8n }), (unitPriceNanos, quantity) => {
        const explicit = lineAmountMinor({ unitPriceNanos, quantity, currency: 'USD', share: 1n, whole: 1n });
        const implicit = lineAmountMinor({ unitPriceNanos, quantity, currency: 'USD' });
        expect(implicit).toBe(explicit);
        expect(implicit).toBe(roundRational(unitPriceNanos * quantity, 10_000_000n));
      }),
    );
  });
});

describe('round trips (properties)', () => {
  it('formatNanos ∘ parseNanos is the identity on canonical decimal strings', () => {
    fc.assert(
      fc.property(canonicalDecimal, (text) => {
        expect(DECIMAL_PATTERN.test(text)).toBe(true);
        expect(formatNanos(parseNanos(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('parseNanos ∘ formatNanos is the identity on non-negative nanos, with or without a currency', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 27n }), fc.constantFrom(undefined, 'USD', 'JPY', 'BHD'), (nanos, currency) => {
        expect(parseNanos(formatNanos(nanos, currency))).toBe(nanos);
      }),
      { numRuns: 1000 },
    );
  });

  it('formatNanos of a negative amount is "-" and the format of its absolute value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 20n }), fc.constantFrom(undefined, 'USD', 'JPY', 'BHD'), (nanos, currency) => {
        expect(formatNanos(-nanos, currency)).toBe(`-${formatNanos(nanos, currency)}`);
      }),
    );
  });

  it('parseMinor ∘ formatMinor is the identity on non-negative minor units; negatives format as "-" + abs', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.constantFrom('USD', 'EUR', 'JPY', 'BHD', 'KWD'), (minor, currency) => {
        const text = formatMinor(minor, currency);
        const digits = minorDigits(currency);
        expect(text).toMatch(digits === 0 ? /^(0|[1-9]\d*)$/ : new RegExp(`^(0|[1-9]\\d*)\\.\\d{${digits}}$`));
        expect(parseMinor(text, currency)).toBe(minor);
        if (minor > 0n) expect(formatMinor(-minor, currency)).toBe(`-${text}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('formatMinor agrees with formatNanos given the currency for whole minor amounts', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.constantFrom('USD', 'JPY', 'BHD'), (minor, currency) => {
        expect(formatNanos(minor * nanosPerMinor(minorDigits(currency)), currency)).toBe(formatMinor(minor, currency));
      }),
    );
  });
});
