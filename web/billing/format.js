// Money and credits arrive as exact decimal strings. They are formatted as strings, never through a
// JS number, so "0.0005" or "9999999999999.99" print exactly as the API meant them.

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** "2500000" → "2,500,000"; "-1234.5" → "-1,234.5". Anything not a plain decimal is shown as is. */
export function formatDecimal(value) {
  const text = String(value);
  const match = DECIMAL.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction] = match;
  return `${sign}${groupThousands(whole)}${fraction === undefined ? '' : `.${fraction}`}`;
}

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Counts (used, limits, seats) are safe integers in the API: 30000 → "30,000". */
export function formatCount(value) {
  return formatDecimal(Number.isInteger(value) ? String(value) : String(Math.trunc(Number(value))));
}

const currencyInfo = new Map();

/** The symbol and the usual number of decimals of a currency, from the browser's own data. */
function currencyOf(code) {
  let info = currencyInfo.get(code);
  if (!info) {
    try {
      const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code });
      const symbol = format.formatToParts(0).find((part) => part.type === 'currency')?.value ?? `${code} `;
      info = { symbol, minimumDigits: format.resolvedOptions().minimumFractionDigits };
    } catch {
      // An unknown code still shows, just without a symbol.
      info = { symbol: `${code} `, minimumDigits: 0 };
    }
    currencyInfo.set(code, info);
  }
  return info;
}

/** The decimals a currency's amounts have ("USD" → 2, "JPY" → 0): used to check typed amounts. */
export function currencyDigits(code) {
  return currencyOf(code).minimumDigits;
}

/**
 * { amount: "5000.00", currency: "USD" } → "$5,000.00". A short amount ("0") is padded to the
 * currency's usual decimals; a longer one ("0.0005", a unit price) keeps every digit.
 */
export function formatMoney(money) {
  if (!money) return '';
  const { symbol, minimumDigits } = currencyOf(money.currency);
  const match = DECIMAL.exec(String(money.amount));
  if (!match) return `${symbol}${money.amount}`;
  const [, sign, whole, fraction = ''] = match;
  const digits = fraction.padEnd(minimumDigits, '0');
  return `${sign}${symbol}${groupThousands(whole)}${digits ? `.${digits}` : ''}`;
}

/** True for "0", "0.00", "-0.0": money worth not mentioning. */
export function isZero(amount) {
  return /^-?0+(\.0+)?$/.test(String(amount));
}

/**
 * Credits in their unit. Money credits (the unit is the currency itself) read as money; a named
 * unit reads as a count: "2,500,000 tokens".
 */
export function formatCredits(credits, unit, currency) {
  if (unit === currency) return formatMoney({ amount: credits, currency });
  return `${formatDecimal(credits)} ${unit}`;
}

export function isMoneyUnit(unit, currency) {
  return unit === currency;
}

/**
 * "call" → "calls" unless the quantity is exactly one. Abbreviations in capitals ("GB") and units
 * already ending in "s" stay as they are.
 */
export function plural(unit, quantity) {
  if (String(quantity) === '1' || String(quantity) === '-1') return unit;
  if (/^[A-Z]+$/.test(unit) || /s$/.test(unit)) return unit;
  return `${unit}s`;
}

/** "30,000 calls"; "1 call". */
export function countOf(quantity, unit) {
  return `${formatCount(quantity)} ${plural(unit, quantity)}`;
}

/** Dates are shown in UTC, as the periods are computed: "December 20, 2026". */
export function formatDate(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleDateString('en-US', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' });
}

/**
 * A moment that matters to the hour (a payment deadline), in the reader's own time zone and named
 * with it: "December 20, 2026 at 3:45 PM GMT+2".
 */
export function formatDateTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString('en-US', {
    year: 'numeric', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
}

export function formatPeriod(period) {
  return `${formatDate(period.start)} – ${formatDate(period.end)}`;
}

/** "monthly" → "Monthly". */
export function capitalize(text) {
  const value = String(text ?? '');
  return value.charAt(0).toUpperCase() + value.slice(1);
}

/** "past_due" → "Past due". */
export function humanize(code) {
  return capitalize(String(code ?? '').replaceAll('_', ' '));
}

/**
 * A decimal string a person typed, as the API takes it: digits with at most `maxDecimals`
 * decimals. Returns the normalized string, or null when it is not such a number.
 */
export function parseDecimalInput(text, maxDecimals) {
  const value = String(text).trim().replaceAll(',', '');
  const match = /^(\d+)(?:\.(\d*))?$/.exec(value);
  if (!match) return null;
  const whole = match[1].replace(/^0+(?=\d)/, '');
  const fraction = match[2] ?? '';
  if (fraction.length > maxDecimals) return null;
  return fraction ? `${whole}.${fraction}` : whole;
}

/** Compares two non-negative decimal strings exactly: -1, 0 or 1. */
export function compareDecimal(a, b) {
  const [aWhole, aFraction = ''] = String(a).split('.');
  const [bWhole, bFraction = ''] = String(b).split('.');
  const wa = aWhole.replace(/^0+(?=\d)/, '');
  const wb = bWhole.replace(/^0+(?=\d)/, '');
  if (wa.length !== wb.length) return wa.length < wb.length ? -1 : 1;
  if (wa !== wb) return wa < wb ? -1 : 1;
  const width = Math.max(aFraction.length, bFraction.length);
  const fa = aFraction.padEnd(width, '0');
  const fb = bFraction.padEnd(width, '0');
  if (fa === fb) return 0;
  return fa < fb ? -1 : 1;
}
