/**
 * Prepaid credits, priced exactly. Credit amounts are bigint nanos of the catalog's credit unit
 * (1e-9 of a credit: a dollar of money credits, or a token), so fractional per-unit prices
 * ($0.0005 a call) are drawn exactly, with no rounding anywhere. Pure.
 *
 * Consumption: an event of `quantity` on a counter at `used` with `included` draws credits for the
 * units of it that are past `included`, at the metric's price; with tiers, graduated over the units
 * past the limit in the cycle (the 10,001st unit past it may be cheaper than the first).
 */
import type { Catalog, CreditPack, CreditSettings, CreditsPolicy } from './catalog.js';
import { divideRoundHalfAwayFromZero, formatNanos, minorDigits, parseMinor, parseNanos } from './money.js';

const NANOS = 1_000_000_000n;

export interface CreditUnit {
  /** Ledger key of the unit: the currency code for money credits, else the unit's id. */
  id: string;
  /** Shown after amounts: "USD", "tokens". */
  name: string;
  /** What one credit is worth, in nanos of the catalog currency. */
  valueNanos: bigint;
  money: boolean;
}

export function creditUnitOf(catalog: Catalog): CreditUnit | undefined {
  const credits = catalog.credits;
  if (!credits) return undefined;
  if (credits.unit === 'money') return { id: catalog.currency, name: catalog.currency, valueNanos: NANOS, money: true };
  return { id: credits.unit.id, name: credits.unit.name, valueNanos: parseNanos(credits.unit.value), money: false };
}

export function requireCreditUnit(catalog: Catalog): CreditUnit {
  const unit = creditUnitOf(catalog);
  if (!unit) throw new RangeError('this catalog has no credits');
  return unit;
}

/** Graduated tiers of a credits policy (a single `unitPrice` is one tier). Prices in credit nanos per unit. */
export function creditTiers(policy: CreditsPolicy): Array<{ upTo: bigint | undefined; priceNanos: bigint }> {
  if (policy.tiers) return policy.tiers.map((t) => ({ upTo: t.upTo === undefined ? undefined : BigInt(t.upTo), priceNanos: parseNanos(t.unitPrice) }));
  return [{ upTo: undefined, priceNanos: parseNanos(policy.unitPrice ?? '0') }];
}

/** Credits (nanos) for units past the limit numbered [from, to) in the cycle, graduated over the tiers. */
export function tieredCostNanos(tiers: ReadonlyArray<{ upTo: bigint | undefined; priceNanos: bigint }>, from: bigint, to: bigint): bigint {
  if (to <= from) return 0n;
  let cost = 0n;
  let floor = 0n;
  for (const tier of tiers) {
    const ceiling = tier.upTo;
    const lo = from > floor ? from : floor;
    const hi = ceiling === undefined || to < ceiling ? to : ceiling;
    if (hi > lo) cost += (hi - lo) * tier.priceNanos;
    if (ceiling === undefined || to <= ceiling) break;
    floor = ceiling;
  }
  return cost;
}

export type CreditTiers = ReturnType<typeof creditTiers>;

/**
 * What an event draws: units past the limit before and after it, and their credits (nanos). The
 * policy's tiers may be given parsed (`tiers`), as the usage ledger does once per counter.
 */
export function creditDraw(args: { used: bigint; quantity: bigint; included: bigint; policy: CreditsPolicy; tiers?: CreditTiers }): { overBefore: bigint; overAfter: bigint; creditsNanos: bigint } {
  const overBefore = args.used > args.included ? args.used - args.included : 0n;
  const after = args.used + args.quantity;
  const overAfter = after > args.included ? after - args.included : 0n;
  if (overAfter === overBefore) return { overBefore, overAfter, creditsNanos: 0n };
  return { overBefore, overAfter, creditsNanos: tieredCostNanos(args.tiers ?? creditTiers(args.policy), overBefore, overAfter) };
}

/** Credits as the API shows them: exact decimal ("2500000", "49.9995"); money with its minor digits. */
export function formatCredits(nanos: bigint, unit: CreditUnit, currency: string): string {
  return unit.money ? formatNanos(nanos, currency) : formatNanos(nanos);
}

/** Credits entered by a person ("2500000", "10.50") → nanos. Throws RangeError on anything else. */
export function parseCredits(value: string): bigint {
  return parseNanos(value);
}

/** What credits are worth, in nanos of the catalog currency, rounded once to a nano. */
export function creditsMoneyNanos(creditsNanos: bigint, unit: CreditUnit): bigint {
  return divideRoundHalfAwayFromZero(creditsNanos * unit.valueNanos, NANOS);
}

/** Nanos of the currency → minor units, rounded once (half away from zero). */
export function nanosToMinor(nanos: bigint, currency: string): bigint {
  return divideRoundHalfAwayFromZero(nanos, 10n ** BigInt(9 - minorDigits(currency)));
}

export function findPack(credits: CreditSettings, packId: string): CreditPack | undefined {
  return credits.packs.find((p) => p.id === packId);
}

/** Credits (nanos) a pack holds: its `credits`, or for money credits its price. */
export function packCreditsNanos(pack: CreditPack): bigint {
  return parseNanos(pack.credits ?? pack.price);
}

export function packPriceMinor(pack: CreditPack, currency: string): bigint {
  return parseMinor(pack.price, currency);
}

/**
 * Credits a custom amount of money buys: the same amount for money credits, else amount ÷ value,
 * rounded down to a nano of a credit (the customer never gets more than they paid for).
 */
export function customAmountCreditsNanos(amountMinor: bigint, currency: string, unit: CreditUnit): bigint {
  const amountNanos = amountMinor * 10n ** BigInt(9 - minorDigits(currency));
  if (unit.money) return amountNanos;
  return (amountNanos * NANOS) / unit.valueNanos;
}

/** What a purchase buys: a pack (by id) or a custom amount (decimal string of the currency). */
export type CreditPurchaseChoice = { packId: string } | { amount: string };

export interface PricedPurchase {
  packId: string | null;
  description: string;
  creditsNanos: bigint;
  amountMinor: bigint;
}

export class CreditPurchaseError extends Error {
  constructor(readonly code: 'credits_not_offered' | 'unknown_pack' | 'amount_out_of_range' | 'invalid_amount' | 'custom_amount_not_offered', message: string) {
    super(message);
    this.name = 'CreditPurchaseError';
  }
}

/** Prices a purchase against the catalog; throws CreditPurchaseError for what the catalog does not offer. */
export function pricePurchase(catalog: Catalog, choice: CreditPurchaseChoice, packs = 1): PricedPurchase {
  const credits = catalog.credits;
  const unit = creditUnitOf(catalog);
  if (!credits || !unit) throw new CreditPurchaseError('credits_not_offered', 'This catalog sells no credits.');
  const currency = catalog.currency;
  if (!Number.isSafeInteger(packs) || packs < 1) throw new RangeError(`packs must be a positive whole number, not ${packs}`);
  if ('packId' in choice) {
    const pack = findPack(credits, choice.packId);
    if (!pack) throw new CreditPurchaseError('unknown_pack', `There is no credit pack "${choice.packId}". Packs: ${credits.packs.map((p) => p.id).join(', ') || 'none'}.`);
    const creditsNanos = packCreditsNanos(pack) * BigInt(packs);
    return {
      packId: pack.id,
      description: `${packs > 1 ? `${packs} × ` : ''}${pack.name} credit pack (${formatCredits(packCreditsNanos(pack), unit, currency)} ${unit.name})`,
      creditsNanos,
      amountMinor: packPriceMinor(pack, currency) * BigInt(packs),
    };
  }
  if (!credits.customAmount) throw new CreditPurchaseError('custom_amount_not_offered', 'This catalog sells credits in packs only; choose a packId.');
  let amountMinor: bigint;
  try {
    amountMinor = parseMinor(choice.amount, currency);
  } catch {
    throw new CreditPurchaseError('invalid_amount', `"${choice.amount}" is not an amount of ${currency} (at most ${minorDigits(currency)} decimal places).`);
  }
  const min = parseMinor(credits.customAmount.min, currency);
  const max = parseMinor(credits.customAmount.max, currency);
  if (amountMinor < min || amountMinor > max) {
    throw new CreditPurchaseError('amount_out_of_range', `A custom amount is between ${credits.customAmount.min} and ${credits.customAmount.max} ${currency}.`);
  }
  const creditsNanos = customAmountCreditsNanos(amountMinor, currency, unit);
  return {
    packId: null,
    description: `Credits (${formatCredits(creditsNanos, unit, currency)} ${unit.name})`,
    creditsNanos,
    amountMinor,
  };
}
