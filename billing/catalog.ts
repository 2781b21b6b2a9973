/**
 * The plan catalog: configuration, not code. A catalog file is parsed with zod and then checked
 * for the rules zod cannot see (unique ids and tiers, metrics that exist, a fallback plan, exact
 * yearly prices). The parsed catalog stays plain JSON (money as decimal strings) so it can travel
 * in workflow inputs and be priced with billing/money.ts.
 */
import { z } from 'zod';
import { changeRuleProblems } from './changeRules.js';
import { DECIMAL_PATTERN, formatNanos, isCurrency, minorDigits, parseNanos } from './money.js';

const id = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lowercase letters, digits, "_" or "-", starting with a letter');
/**
 * Prices and quantities as exact decimal strings. At most 15 whole digits: far past any real price
 * or pack, and it keeps every amount inside the database's BIGINT minor units and NUMERIC(38,0) nanos.
 */
const decimal = z.string().regex(DECIMAL_PATTERN, 'must be a non-negative decimal string such as "30.00" or "0.0005"')
  .refine((value) => value.split('.')[0]!.length <= 15, 'must have at most 15 whole digits');
const positiveInt = z.number().int().positive();

const price = z.strictObject({
  monthly: decimal,
  /** The price of a year (12 cycles). Absent: derived from `yearlyDiscountPercent` when the catalog has one. */
  yearly: decimal.optional(),
});

/** What happens once a metric's included quantity is used up. */
const overLimit = z.discriminatedUnion('policy', [
  /** Usage past the limit is refused. */
  z.strictObject({ policy: z.literal('reject') }),
  /** Usage past the limit is allowed and billed per unit on the next cycle's invoice. */
  z.strictObject({ policy: z.literal('bill'), unitPrice: decimal }),
  /**
   * Usage past the limit draws the prepaid credit balance (billing/creditPricing.ts): `unitPrice`
   * credits per unit, or graduated `tiers` over the units past the limit in the cycle; refused
   * (insufficient_credits) when the balance cannot pay for an event.
   */
  z.strictObject({
    policy: z.literal('credits'),
    unitPrice: decimal.optional(),
    tiers: z.array(z.strictObject({
      /** Units past the included quantity (this cycle) up to which this price applies; absent on the last tier. */
      upTo: z.number().int().positive().optional(),
      unitPrice: decimal,
    })).min(1).max(10).optional(),
  }),
]);

const metricLimit = z.strictObject({
  included: z.number().int().nonnegative(),
  overLimit,
});

/**
 * The most seats any subscription can have, whatever its plan says: seat counts are stored as
 * 32-bit integers, and no plan with a larger team is plausible. A plan without `max` still stops here.
 */
export const MAX_SEATS = 1_000_000;

const seatCount = positiveInt.max(MAX_SEATS);

const seats = z.strictObject({
  /** Seats covered by the plan price. */
  included: z.number().int().nonnegative().max(MAX_SEATS),
  /** Fewest seats the plan can have. */
  min: seatCount,
  max: seatCount.optional(),
  /** Price of each seat beyond `included`, per interval. */
  price,
});

const plan = z.strictObject({
  id,
  name: z.string().min(1),
  /** Order for upgrade/downgrade: a higher tier is an upgrade. */
  tier: z.number().int().nonnegative(),
  price,
  limits: z.record(id, metricLimit),
  seats: seats.optional(),
  features: z.record(z.string(), z.union([z.boolean(), z.number(), z.string()])).default({}),
});

const metric = z.strictObject({
  id,
  name: z.string().min(1),
  unit: z.string().min(1),
});

/**
 * What happens around payments (billing/paymentPolicy.ts fills in the defaults). Optional, so a
 * catalog stored in a running subscription's input before this existed reads the same.
 */
const payments = z.strictObject({
  dunning: z.strictObject({
    /** Retries after a failed renewal payment, in days after that first failure (each later than the one before). */
    retryDays: z.array(z.number().positive().max(60)).min(0).max(10).optional(),
    /** After the last failed retry: the fallback plan at once, a cancellation at the period end, or the invoice marked uncollectible and the plan kept. */
    finalAction: z.enum(['fallback_plan', 'cancel', 'mark_uncollectible']).optional(),
    /** Whether usage is admitted while a subscription is past due. */
    usageWhilePastDue: z.enum(['allow', 'refuse']).optional(),
  }).optional(),
  /** Credit owed to a customer who lands on the fallback plan: refunded to their card, or kept. */
  creditOnFallback: z.enum(['refund', 'keep']).optional(),
}).optional();

/** A credit pack: `credits` for `price` (catalog currency). With money credits, `credits` defaults to the price. */
const creditPack = z.strictObject({
  id,
  name: z.string().min(1).max(100),
  credits: decimal.optional(),
  price: decimal,
});

/**
 * Prepaid credits (billing/creditPricing.ts). One unit per catalog: money in the catalog currency,
 * or a named unit (tokens) worth `value` of the currency each (to show consumption as money).
 */
const credits = z.strictObject({
  unit: z.union([z.literal('money'), z.strictObject({ id, name: z.string().min(1).max(40), value: decimal })]).default('money'),
  packs: z.array(creditPack).max(20).default([]),
  /** A purchase of any amount (money, catalog currency) between min and max. */
  customAmount: z.strictObject({ min: decimal, max: decimal }).optional(),
  /** Balance (in credits) under which a customer without their own threshold is alerted. */
  lowBalanceThreshold: decimal.optional(),
  autoRecharge: z.strictObject({
    /** Most auto-recharge may spend per billing cycle unless the customer sets another (catalog currency). */
    defaultSpendingLimit: decimal.default('50.00'),
    /** Retries of a declined recharge, in hours after its first failure; auto-recharge turns off after the last one fails. */
    retryHours: z.array(z.number().positive().max(168)).max(10).default([1, 6, 24]),
  }).default({ defaultSpendingLimit: '50.00', retryHours: [1, 6, 24] }),
}).optional();

/** Which way a change moves the plan's tier or the seat count. */
const direction = z.enum(['up', 'down', 'same']);
const planIds = z.union([id, z.array(id).min(1).max(50)]);

/**
 * One plan-change rule (billing/changeRules.ts): when every condition given matches the change,
 * it applies at once, at the period end, or is refused with `reason` shown to the customer. The
 * catalog's rules are tried in order, then the built-in ones; the first that matches decides.
 */
const changeRule = z.strictObject({
  when: z.strictObject({
    /** The plan the subscription is on (an id, or any of several). */
    fromPlan: planIds.optional(),
    /** The plan asked for (the same plan when only the interval or seats change). */
    toPlan: planIds.optional(),
    /** `up`: a higher tier (an upgrade); `down`: a lower one (a downgrade); `same`: the same plan or tier. */
    tier: direction.optional(),
    fromInterval: z.enum(['monthly', 'yearly']).optional(),
    toInterval: z.enum(['monthly', 'yearly']).optional(),
    /** Seats added (`up`), removed (`down`) or kept (`same`). */
    seats: direction.optional(),
  }).default({}),
  apply: z.enum(['immediate', 'period_end', 'refused']),
  /** Shown to the customer when the rule refuses the change. */
  reason: z.string().trim().min(1).max(500).optional(),
});

const catalogSchema = z.strictObject({
  currency: z.string().refine(isCurrency, 'must be a supported ISO 4217 currency code such as "USD" or "EUR"'),
  cycleDays: positiveInt.max(366).default(30),
  /** Yearly price = 12 × monthly × (100 − this) / 100 for plans without an explicit yearly price. */
  yearlyDiscountPercent: z.number().int().min(0).max(100).optional(),
  /**
   * When a downgrade takes effect when no change rule says otherwise: at once (unused remainder
   * credited) or at the period end. Kept for catalogs written before `changeRules`; a rule
   * `{ "when": { "tier": "down" }, "apply": "period_end" }` says the same.
   */
  downgradeTiming: z.enum(['immediate', 'period_end']).default('immediate'),
  /**
   * Plan-change policy as ordered rules (billing/changeRules.ts). Optional, not defaulted: a
   * catalog stored in a running subscription's input before rules existed reads the same.
   */
  changeRules: z.array(changeRule).max(100).optional(),
  /** How many downgrades a customer may make in one usage cycle (PRODUCT.md: one). */
  downgradesPerCycle: z.number().int().min(0).default(1),
  /**
   * Tolerance of the downgrade usage allowance: usage so far may be at most
   * min(targetLimit × elapsed ÷ cycle × factor, targetLimit). A decimal string, exact.
   */
  downgradeAllowanceFactor: decimal.default('1.1'),
  /** The plan a cancelled subscription falls back to at its period end. */
  fallbackPlan: id,
  payments,
  credits,
  metrics: z.array(metric).min(1),
  plans: z.array(plan).min(1),
});

export type CatalogInput = z.input<typeof catalogSchema>;
export type Catalog = z.output<typeof catalogSchema>;
export type Plan = Catalog['plans'][number];
export type MetricLimit = z.output<typeof metricLimit>;
export type OverLimitPolicy = MetricLimit['overLimit'];
export type CreditsPolicy = Extract<OverLimitPolicy, { policy: 'credits' }>;
export type CreditSettings = NonNullable<Catalog['credits']>;
export type CreditPack = CreditSettings['packs'][number];
export type ChangeRule = z.output<typeof changeRule>;
export type ChangeDirection = z.output<typeof direction>;
export type Interval = 'monthly' | 'yearly';
export const INTERVALS = ['monthly', 'yearly'] as const;

/** A year is 12 billing cycles, so usage cycles and yearly periods stay aligned. */
export const CYCLES_PER_YEAR = 12;

export class CatalogError extends Error {
  readonly code = 'invalid_catalog';
  constructor(readonly problems: string[], source = 'catalog') {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogError';
  }
}

function pathOf(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

/** Parses and checks a catalog; throws CatalogError listing every problem with its path. */
export function parseCatalog(input: unknown, source = 'catalog'): Catalog {
  const parsed = catalogSchema.safeParse(input);
  if (!parsed.success) {
    throw new CatalogError(parsed.error.issues.map((issue) => `${pathOf(issue.path)}: ${issue.message}`), source);
  }
  const catalog = parsed.data;
  const problems: string[] = [];
  const seen = (values: Array<string | number>) => values.filter((v, i) => values.indexOf(v) !== i);

  for (const dup of seen(catalog.metrics.map((m) => m.id))) problems.push(`metrics: duplicate metric id "${dup}"`);
  for (const dup of seen(catalog.plans.map((p) => p.id))) problems.push(`plans: duplicate plan id "${dup}"`);
  for (const dup of seen(catalog.plans.map((p) => p.tier))) problems.push(`plans: two plans share tier ${dup}; tiers order upgrades and must be unique`);
  const metricIds = new Set(catalog.metrics.map((m) => m.id));
  const digits = minorDigits(catalog.currency);

  catalog.plans.forEach((p, i) => {
    for (const metricId of Object.keys(p.limits)) {
      if (!metricIds.has(metricId)) problems.push(`plans[${i}].limits.${metricId}: unknown metric (declare it under "metrics")`);
    }
    for (const m of metricIds) {
      if (!(m in p.limits)) problems.push(`plans[${i}].limits: missing metric "${m}" (every plan must say how much of each metric it includes)`);
    }
    const checkPrice = (where: string, value: string) => {
      const nanos = parseNanos(value);
      if (nanos % 10n ** BigInt(9 - digits) !== 0n) problems.push(`${where}: "${value}" has more than ${digits} decimal places for ${catalog.currency}`);
    };
    checkPrice(`plans[${i}].price.monthly`, p.price.monthly);
    const checkYearly = (where: string, prices: Plan['price']) => {
      if (prices.yearly !== undefined) return checkPrice(`${where}.yearly`, prices.yearly);
      if (catalog.yearlyDiscountPercent === undefined) return;
      const yearly = derivedYearlyNanos(parseNanos(prices.monthly), catalog.yearlyDiscountPercent);
      if (yearly === undefined || yearly % 10n ** BigInt(9 - digits) !== 0n) {
        problems.push(`${where}: the yearly price derived from ${catalog.yearlyDiscountPercent}% off is not a whole ${catalog.currency} minor unit; give ${where.replace(/^plans\[\d+\]\./, '')}.yearly explicitly`);
      }
    };
    checkYearly(`plans[${i}].price`, p.price);
    for (const [metricId, limit] of Object.entries(p.limits)) {
      if (limit.overLimit.policy !== 'credits') continue;
      const where = `plans[${i}].limits.${metricId}.overLimit`;
      const { unitPrice, tiers } = limit.overLimit;
      if ((unitPrice === undefined) === (tiers === undefined)) problems.push(`${where}: give either "unitPrice" or "tiers" (credits per unit past the included quantity)`);
      if (!catalog.credits) problems.push(`${where}: the "credits" policy needs a "credits" section (unit and packs) in the catalog`);
      tiers?.forEach((tier, t) => {
        const last = t === tiers.length - 1;
        if (last && tier.upTo !== undefined) problems.push(`${where}.tiers[${t}]: the last tier has no "upTo" (it prices everything past the tier before)`);
        if (!last && tier.upTo === undefined) problems.push(`${where}.tiers[${t}]: "upTo" is required on every tier but the last`);
        const previous = t > 0 ? tiers[t - 1]!.upTo : undefined;
        if (tier.upTo !== undefined && previous !== undefined && tier.upTo <= previous) problems.push(`${where}.tiers[${t}]: upTo ${tier.upTo} must be above the tier before (${previous})`);
      });
    }
    if (p.seats) {
      if (p.seats.max !== undefined && p.seats.max < p.seats.min) problems.push(`plans[${i}].seats: max ${p.seats.max} is below min ${p.seats.min}`);
      if (p.seats.max !== undefined && p.seats.included > p.seats.max) problems.push(`plans[${i}].seats: included ${p.seats.included} is above max ${p.seats.max}`);
      checkPrice(`plans[${i}].seats.price.monthly`, p.seats.price.monthly);
      checkYearly(`plans[${i}].seats.price`, p.seats.price);
      // A plan sold yearly must price its seats yearly too, or a yearly subscription's seats could not be priced.
      const soldYearly = p.price.yearly !== undefined || catalog.yearlyDiscountPercent !== undefined;
      if (soldYearly && p.seats.price.yearly === undefined && catalog.yearlyDiscountPercent === undefined) {
        problems.push(`plans[${i}].seats.price.yearly: the plan has a yearly price, so its seats need one too (or set yearlyDiscountPercent)`);
      }
    }
  });
  if (!catalog.plans.some((p) => p.id === catalog.fallbackPlan)) problems.push(`fallbackPlan: "${catalog.fallbackPlan}" is not a plan id`);
  const retryDays = catalog.payments?.dunning?.retryDays ?? [];
  if (retryDays.some((day, i) => i > 0 && day <= retryDays[i - 1]!)) problems.push('payments.dunning.retryDays: each retry must come later than the one before');
  if (catalog.credits) checkCredits(catalog.credits, digits, catalog.currency, problems);
  problems.push(...changeRuleProblems(catalog));
  if (problems.length > 0) throw new CatalogError(problems, source);
  return catalog;
}

function checkCredits(credits: CreditSettings, digits: number, currency: string, problems: string[]): void {
  const money = (where: string, value: string, positive = true) => {
    const nanos = parseNanos(value);
    if (positive && nanos <= 0n) problems.push(`${where}: must be more than 0`);
    if (nanos % 10n ** BigInt(9 - digits) !== 0n) problems.push(`${where}: "${value}" has more than ${digits} decimal places for ${currency}`);
  };
  const named = credits.unit !== 'money';
  if (named && parseNanos((credits.unit as { value: string }).value) <= 0n) problems.push('credits.unit.value: must be more than 0 (what one credit is worth)');
  const ids = credits.packs.map((p) => p.id);
  for (const dup of ids.filter((v, i) => ids.indexOf(v) !== i)) problems.push(`credits.packs: duplicate pack id "${dup}"`);
  credits.packs.forEach((pack, i) => {
    money(`credits.packs[${i}].price`, pack.price);
    if (named && pack.credits === undefined) problems.push(`credits.packs[${i}].credits: required for ${(credits.unit as { name: string }).name} (how many the pack holds)`);
    if (pack.credits !== undefined && parseNanos(pack.credits) <= 0n) problems.push(`credits.packs[${i}].credits: must be more than 0`);
    if (!named && pack.credits !== undefined && parseNanos(pack.credits) !== parseNanos(pack.price)) problems.push(`credits.packs[${i}].credits: money credits are worth their price; leave "credits" out`);
  });
  if (credits.customAmount) {
    money('credits.customAmount.min', credits.customAmount.min);
    money('credits.customAmount.max', credits.customAmount.max);
    if (parseNanos(credits.customAmount.max) < parseNanos(credits.customAmount.min)) problems.push('credits.customAmount: max is below min');
  }
  if (credits.packs.length === 0 && !credits.customAmount) problems.push('credits: offer at least one pack or a customAmount, or credits can never be bought');
  money('credits.autoRecharge.defaultSpendingLimit', credits.autoRecharge.defaultSpendingLimit, false);
  const hours = credits.autoRecharge.retryHours;
  if (hours.some((h, i) => i > 0 && h <= hours[i - 1]!)) problems.push('credits.autoRecharge.retryHours: each retry must come later than the one before');
}

function derivedYearlyNanos(monthlyNanos: bigint, discountPercent: number): bigint | undefined {
  const numerator = monthlyNanos * BigInt(12 * (100 - discountPercent));
  return numerator % 100n === 0n ? numerator / 100n : undefined;
}

export function findPlan(catalog: Catalog, planId: string): Plan | undefined {
  return catalog.plans.find((p) => p.id === planId);
}

export function requirePlan(catalog: Catalog, planId: string): Plan {
  const plan = findPlan(catalog, planId);
  if (!plan) throw new RangeError(`unknown plan ${planId}`);
  return plan;
}

/** Whether a plan can be billed yearly: it has an explicit yearly price or the catalog derives one. */
export function offersYearly(catalog: Catalog, plan: Plan): boolean {
  return plan.price.yearly !== undefined || catalog.yearlyDiscountPercent !== undefined;
}

/** The plan's base price for one interval, in nanos. */
export function planPriceNanos(catalog: Catalog, plan: Plan, interval: Interval): bigint {
  return intervalPriceNanos(catalog, plan.price, interval);
}

/** The price of one seat beyond those included, for one interval, in nanos (0 without seats). */
export function seatPriceNanos(catalog: Catalog, plan: Plan, interval: Interval): bigint {
  return plan.seats ? intervalPriceNanos(catalog, plan.seats.price, interval) : 0n;
}

function intervalPriceNanos(catalog: Catalog, p: Plan['price'], interval: Interval): bigint {
  const monthly = parseNanos(p.monthly);
  if (interval === 'monthly') return monthly;
  if (p.yearly !== undefined) return parseNanos(p.yearly);
  if (catalog.yearlyDiscountPercent === undefined) throw new RangeError('this catalog has no yearly prices');
  const yearly = derivedYearlyNanos(monthly, catalog.yearlyDiscountPercent);
  if (yearly === undefined) throw new RangeError('derived yearly price is not exact');
  return yearly;
}

/** The plan's price for an interval as a decimal string (for API views). */
export function priceString(catalog: Catalog, plan: Plan, interval: Interval): string {
  return formatNanos(planPriceNanos(catalog, plan, interval), catalog.currency);
}

/** Seats a new subscription gets when none are asked for. */
export function defaultSeats(plan: Plan): number {
  return plan.seats ? Math.max(plan.seats.min, plan.seats.included) : 1;
}

/** The nearest seat count the plan allows (what a plan switch keeps of the current count). */
export function clampSeats(plan: Plan, seats: number): number {
  if (!plan.seats) return 1;
  return Math.max(plan.seats.min, Math.min(seats, plan.seats.max ?? MAX_SEATS));
}

/** Why a seat count is not allowed on a plan, or undefined when it is. */
export function seatProblem(plan: Plan, seats: number): string | undefined {
  if (!plan.seats) return seats === 1 ? undefined : `plan ${plan.id} is not seat-based; seats must be 1`;
  if (seats < plan.seats.min) return `plan ${plan.id} needs at least ${plan.seats.min} seats`;
  const max = plan.seats.max ?? MAX_SEATS;
  if (seats > max) return `plan ${plan.id} allows at most ${max} seats`;
  return undefined;
}
