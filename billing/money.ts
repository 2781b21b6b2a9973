/**
 * Exact money. Catalog prices are decimal strings ("0.0005"); in memory they become bigint counts
 * of nano-units (1e-9 of the currency's major unit), which holds every price we have seen exactly
 * (a 5.00 EUR pack of 1,000,000 tokens is 5,000 nanos a token). Invoice amounts are bigint counts
 * of the currency's minor unit (cents).
 *
 * THE rounding rule (docs/architecture.md, "Money"): an invoice line is computed exactly as a
 * rational number of minor units and rounded once, half away from zero, to a whole minor unit.
 * Nothing is rounded before that, and totals add rounded lines.
 */

export const NANO_DIGITS = 9;
const NANOS_PER_UNIT = 10n ** BigInt(NANO_DIGITS);

/** ISO 4217 currencies we accept, with their minor-unit digits. */
export const CURRENCY_MINOR_DIGITS: Readonly<Record<string, number>> = {
  USD: 2, EUR: 2, GBP: 2, CHF: 2, CAD: 2, AUD: 2, NZD: 2, SEK: 2, NOK: 2, DKK: 2, PLN: 2, CZK: 2,
  BRL: 2, MXN: 2, INR: 2, SGD: 2, HKD: 2, ZAR: 2, JPY: 0, KRW: 0, CLP: 0, BHD: 3, KWD: 3,
};

export function isCurrency(code: string): boolean {
  return Object.hasOwn(CURRENCY_MINOR_DIGITS, code);
}

export function minorDigits(currency: string): number {
  if (!isCurrency(currency)) throw new RangeError(`unknown currency ${currency}`);
  return CURRENCY_MINOR_DIGITS[currency]!;
}

/** Decimal amount strings as they appear in catalogs and API bodies: "30", "30.00", "0.0005". */
export const DECIMAL_PATTERN = /^(0|[1-9]\d*)(\.\d{1,9})?$/;

/** "0.0005" → 500000n nanos. Throws on anything that is not an exact non-negative decimal. */
export function parseNanos(decimal: string): bigint {
  const match = DECIMAL_PATTERN.exec(decimal);
  if (!match) throw new RangeError(`not a non-negative decimal with at most ${NANO_DIGITS} places: "${decimal}"`);
  const whole = BigInt(match[1]!);
  const fraction = (match[2] ?? '.').slice(1).padEnd(NANO_DIGITS, '0');
  return whole * NANOS_PER_UNIT + BigInt(fraction);
}

/** 500000n → "0.0005" (shortest exact form, at least the currency's minor digits when given). */
export function formatNanos(nanos: bigint, currency?: string): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  const whole = abs / NANOS_PER_UNIT;
  let fraction = (abs % NANOS_PER_UNIT).toString().padStart(NANO_DIGITS, '0').replace(/0+$/, '');
  const min = currency ? minorDigits(currency) : 0;
  fraction = fraction.padEnd(min, '0');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Minor units → "5.00" / "-5.00" / "500" (JPY). */
export function formatMinor(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const sign = minor < 0n ? '-' : '';
  const abs = minor < 0n ? -minor : minor;
  if (digits === 0) return `${sign}${abs}`;
  const factor = 10n ** BigInt(digits);
  return `${sign}${abs / factor}.${(abs % factor).toString().padStart(digits, '0')}`;
}

/** "5.00" in USD → 500n. Refuses more places than the currency has. */
export function parseMinor(decimal: string, currency: string): bigint {
  const digits = minorDigits(currency);
  const nanos = parseNanos(decimal);
  const per = nanosPerMinor(digits);
  if (nanos % per !== 0n) throw new RangeError(`${decimal} has more than ${digits} decimal places for ${currency}`);
  return nanos / per;
}

function nanosPerMinor(digits: number): bigint {
  return 10n ** BigInt(NANO_DIGITS - digits);
}

/** Divides and rounds half away from zero: the one rounding step of an invoice line. */
export function divideRoundHalfAwayFromZero(numerator: bigint, denominator: bigint): bigint {
  if (denominator === 0n) throw new RangeError('division by zero');
  if (denominator < 0n) return divideRoundHalfAwayFromZero(-numerator, -denominator);
  const negative = numerator < 0n;
  const abs = negative ? -numerator : numerator;
  const quotient = (abs * 2n + denominator) / (denominator * 2n);
  return negative ? -quotient : quotient;
}

/**
 * An invoice line's amount in minor units: unitPriceNanos × quantity × (share ÷ whole), rounded once.
 * `share`/`whole` prorate a price over part of a period (pass 1n/1n for a whole one).
 */
export function lineAmountMinor(args: {
  unitPriceNanos: bigint;
  quantity: bigint;
  currency: string;
  share?: bigint;
  whole?: bigint;
}): bigint {
  const share = args.share ?? 1n;
  const whole = args.whole ?? 1n;
  if (whole <= 0n) throw new RangeError('proration whole must be positive');
  const numerator = args.unitPriceNanos * args.quantity * share;
  const denominator = whole * nanosPerMinor(minorDigits(args.currency));
  return divideRoundHalfAwayFromZero(numerator, denominator);
}

/** A money amount as the API and invoices show it: exact decimal string plus currency. */
export interface MoneyView {
  amount: string;
  currency: string;
}

export function moneyView(minor: bigint, currency: string): MoneyView {
  return { amount: formatMinor(minor, currency), currency };
}
