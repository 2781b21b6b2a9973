import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CatalogError,
  CYCLES_PER_YEAR,
  INTERVALS,
  defaultSeats,
  findPlan,
  offersYearly,
  parseCatalog,
  planPriceNanos,
  priceString,
  requirePlan,
  seatPriceNanos,
  seatProblem,
  type Catalog,
  type CatalogInput,
  type Plan,
} from '../../billing/catalog.js';
import { formatNanos, parseNanos } from '../../billing/money.js';
import { DEFAULT_CATALOG_PATH, loadCatalog } from '../../config/loadCatalog.js';

const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const USAGE_METRICS_PATH = path.join(configDir, 'examples/usage-metrics.json');
const SEATS_EUR_PATH = path.join(configDir, 'examples/seats-eur.json');

/** The default catalog file as raw JSON, to mutate into bad catalogs. */
function rawDefault(): CatalogInput {
  return JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as CatalogInput;
}

/** A raw catalog as a loosely typed record, so tests can add keys the schema forbids. */
type Loose = Record<string, unknown> & { plans: Array<Record<string, unknown> & { limits: Record<string, unknown>; price: Record<string, unknown> }> };

function mutated(change: (c: Loose) => void): unknown {
  const raw = structuredClone(rawDefault()) as unknown as Loose;
  change(raw);
  return raw;
}

/** Gives a raw catalog a valid money credits section, with `overrides` on top. */
function withCredits(c: Loose, overrides: Record<string, unknown> = {}): void {
  c.credits = { packs: [{ id: 'usd_50', name: '$50', price: '50.00' }], ...overrides };
}

function catalogErrorOf(action: () => unknown): CatalogError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return error as CatalogError;
  }
  throw new Error('expected a CatalogError, but nothing was thrown');
}

function plan(catalog: Catalog, id: string): Plan {
  return requirePlan(catalog, id);
}

describe('the default catalog (config/catalog.json)', () => {
  const catalog = loadCatalog(DEFAULT_CATALOG_PATH);

  it('is USD on a 30-day cycle with the four plans in tier order, falling back to free', () => {
    expect(catalog.currency).toBe('USD');
    expect(catalog.cycleDays).toBe(30);
    expect(catalog.fallbackPlan).toBe('free');
    expect(catalog.downgradeTiming).toBe('immediate');
    expect(catalog.metrics).toEqual([{ id: 'api_calls', name: 'API calls', unit: 'call' }]);
    expect(catalog.plans.map((p) => [p.id, p.name, p.tier])).toEqual([
      ['free', 'Free', 0],
      ['basic', 'Basic', 1],
      ['pro', 'Pro', 2],
      ['enterprise', 'Enterprise', 3],
    ]);
  });

  it.each([
    ['free', 1_000, '0', 0n],
    ['basic', 30_000, '10.00', 10_000_000_000n],
    ['pro', 300_000, '30.00', 30_000_000_000n],
    ['enterprise', 1_000_000, '100.00', 100_000_000_000n],
  ])('%s includes %s API calls for %s a cycle', (id, included, monthly, nanos) => {
    const p = plan(catalog, id);
    expect(p.limits.api_calls?.included).toBe(included);
    expect(p.price.monthly).toBe(monthly);
    expect(planPriceNanos(catalog, p, 'monthly')).toBe(nanos);
    expect(p.seats).toBeUndefined();
    expect(p.features).toEqual({});
  });

  it('free, basic and pro reject over the limit; enterprise bills each extra call at $0.0005', () => {
    expect(plan(catalog, 'free').limits.api_calls?.overLimit).toEqual({ policy: 'reject' });
    expect(plan(catalog, 'basic').limits.api_calls?.overLimit).toEqual({ policy: 'reject' });
    expect(plan(catalog, 'pro').limits.api_calls?.overLimit).toEqual({ policy: 'reject' });
    const enterprise = plan(catalog, 'enterprise').limits.api_calls?.overLimit;
    expect(enterprise).toEqual({ policy: 'bill', unitPrice: '0.0005' });
    expect(enterprise?.policy === 'bill' ? parseNanos(enterprise.unitPrice) : undefined).toBe(500_000n);
  });

  it('prices a year as 12 cycles at 20% off: pro = 288.00', () => {
    expect(catalog.yearlyDiscountPercent).toBe(20);
    expect(CYCLES_PER_YEAR).toBe(12);
    expect(INTERVALS).toEqual(['monthly', 'yearly']);
    expect(priceString(catalog, plan(catalog, 'pro'), 'yearly')).toBe('288.00');
    expect(planPriceNanos(catalog, plan(catalog, 'pro'), 'yearly')).toBe(288_000_000_000n);
    expect(priceString(catalog, plan(catalog, 'basic'), 'yearly')).toBe('96.00');
    expect(priceString(catalog, plan(catalog, 'enterprise'), 'yearly')).toBe('960.00');
    expect(priceString(catalog, plan(catalog, 'free'), 'yearly')).toBe('0.00');
    expect(priceString(catalog, plan(catalog, 'pro'), 'monthly')).toBe('30.00');
  });

  it('loadCatalog() without arguments reads the default file', () => {
    const saved = process.env.TOLLGATE_CATALOG;
    delete process.env.TOLLGATE_CATALOG;
    try {
      expect(loadCatalog()).toEqual(catalog);
    } finally {
      if (saved !== undefined) process.env.TOLLGATE_CATALOG = saved;
    }
  });

  it('loadCatalog() honours TOLLGATE_CATALOG', () => {
    const saved = process.env.TOLLGATE_CATALOG;
    process.env.TOLLGATE_CATALOG = SEATS_EUR_PATH;
    try {
      expect(loadCatalog().currency).toBe('EUR');
    } finally {
      if (saved === undefined) delete process.env.TOLLGATE_CATALOG;
      else process.env.TOLLGATE_CATALOG = saved;
    }
  });

  it('findPlan / requirePlan', () => {
    expect(findPlan(catalog, 'pro')?.name).toBe('Pro');
    expect(findPlan(catalog, 'platinum')).toBeUndefined();
    expect(() => requirePlan(catalog, 'platinum')).toThrow('unknown plan platinum');
  });

  it('survives a JSON round trip unchanged (it travels in workflow inputs)', () => {
    expect(JSON.parse(JSON.stringify(catalog))).toEqual(catalog);
    expect(parseCatalog(JSON.parse(JSON.stringify(catalog)))).toEqual(catalog);
  });
});

describe('the usage-metrics example catalog', () => {
  const catalog = loadCatalog(USAGE_METRICS_PATH);

  it('meters four metrics in USD with a free plan and four paid tiers', () => {
    expect(catalog.currency).toBe('USD');
    expect(catalog.cycleDays).toBe(30);
    expect(catalog.yearlyDiscountPercent).toBe(20);
    expect(catalog.fallbackPlan).toBe('free');
    expect(catalog.metrics.map((m) => m.id)).toEqual(['monthly_active_users', 'storage_gb', 'bandwidth_gb', 'build_minutes']);
    expect(catalog.plans.map((p) => p.id)).toEqual(['free', 'starter', 'growth', 'scale', 'enterprise']);
    expect(catalog.plans.map((p) => p.price.monthly)).toEqual(['0', '19.00', '49.00', '149.00', '499.00']);
  });

  it('derives yearly prices at 20% off', () => {
    expect(catalog.plans.map((p) => priceString(catalog, p, 'yearly'))).toEqual(['0.00', '182.40', '470.40', '1430.40', '4790.40']);
  });

  it('every paid plan pays what goes over from credits (a unitPrice or tiers); free rejects', () => {
    for (const p of catalog.plans) {
      for (const m of catalog.metrics) {
        const policy = p.limits[m.id]?.overLimit;
        if (p.id === 'free') expect(policy).toEqual({ policy: 'reject' });
        else {
          expect(policy?.policy).toBe('credits');
          if (policy?.policy !== 'credits') continue;
          // exactly one of unitPrice and tiers, and every price above 0
          expect((policy.unitPrice === undefined) !== (policy.tiers === undefined)).toBe(true);
          const prices = policy.tiers ? policy.tiers.map((t) => t.unitPrice) : [policy.unitPrice!];
          for (const price of prices) expect(parseNanos(price) > 0n).toBe(true);
        }
      }
    }
    expect(plan(catalog, 'starter').limits.build_minutes?.overLimit).toEqual({
      policy: 'credits',
      tiers: [{ upTo: 10000, unitPrice: '0.008' }, { unitPrice: '0.006' }],
    });
    expect(plan(catalog, 'growth').limits.build_minutes?.overLimit).toEqual({ policy: 'credits', unitPrice: '0.006' });
    expect(plan(catalog, 'starter').limits.monthly_active_users?.overLimit).toEqual({ policy: 'credits', unitPrice: '0.02' });
  });

  it('sells money credits: $50, $100, $500 and $5,000 packs and any amount from 10.00 to 10000.00', () => {
    expect(catalog.credits).toEqual({
      unit: 'money',
      packs: [
        { id: 'usd_50', name: '$50', price: '50.00' },
        { id: 'usd_100', name: '$100', price: '100.00' },
        { id: 'usd_500', name: '$500', price: '500.00' },
        { id: 'usd_5000', name: '$5,000', price: '5000.00' },
      ],
      customAmount: { min: '10.00', max: '10000.00' },
      lowBalanceThreshold: '10.00',
      autoRecharge: { defaultSpendingLimit: '50.00', retryHours: [1, 6, 24] },
    });
    // money packs carry no separate credits: they hold their price
    for (const pack of catalog.credits!.packs) expect(pack.credits).toBeUndefined();
  });

  it('included quantities grow with the tier', () => {
    for (const m of catalog.metrics) {
      const included = catalog.plans.map((p) => p.limits[m.id]?.included ?? -1);
      expect(included.every((q, i) => i === 0 || q > (included[i - 1] ?? Infinity))).toBe(true);
    }
  });
});

describe('the seats-eur example catalog', () => {
  const catalog = loadCatalog(SEATS_EUR_PATH);

  it('has Free, Personal, Team, Business, Enterprise in EUR, downgrading at the period end', () => {
    expect(catalog.currency).toBe('EUR');
    expect(catalog.changeRules).toEqual([
      { when: { tier: 'down' }, apply: 'period_end' },
      { when: { tier: 'same', seats: 'down' }, apply: 'period_end' },
      { when: { fromInterval: 'yearly', toInterval: 'monthly' }, apply: 'period_end' },
    ]);
    expect(catalog.plans.map((p) => p.name)).toEqual(['Free', 'Personal', 'Team', 'Business', 'Enterprise']);
    expect(catalog.metrics.map((m) => m.id)).toEqual(['sessions', 'events', 'enrichment_tokens', 'storage_gb']);
  });

  it('team-style plans have seats; free and personal do not', () => {
    expect(plan(catalog, 'free').seats).toBeUndefined();
    expect(plan(catalog, 'personal').seats).toBeUndefined();
    expect(plan(catalog, 'team').seats).toEqual({ included: 3, min: 1, max: 20, price: { monthly: '8.00' } });
    expect(plan(catalog, 'business').seats).toEqual({ included: 10, min: 3, max: 100, price: { monthly: '7.00', yearly: '72.00' } });
    expect(plan(catalog, 'enterprise').seats).toEqual({ included: 25, min: 10, price: { monthly: '6.00' } });
  });

  it('has feature flags', () => {
    expect(plan(catalog, 'free').features).toEqual({ api_access: false, sso: false, audit_log: false, data_retention_days: 7 });
    expect(plan(catalog, 'business').features.sso).toBe(true);
  });

  it('enrichment tokens past the plan draw one token credit each on personal and team, graduated on business', () => {
    expect(plan(catalog, 'free').limits.enrichment_tokens?.overLimit).toEqual({ policy: 'reject' });
    expect(plan(catalog, 'personal').limits.enrichment_tokens?.overLimit).toEqual({ policy: 'credits', unitPrice: '1' });
    expect(plan(catalog, 'team').limits.enrichment_tokens?.overLimit).toEqual({ policy: 'credits', unitPrice: '1' });
    expect(plan(catalog, 'business').limits.enrichment_tokens?.overLimit).toEqual({
      policy: 'credits',
      tiers: [{ upTo: 10000000, unitPrice: '1' }, { unitPrice: '0.8' }],
    });
    expect(plan(catalog, 'enterprise').limits.enrichment_tokens?.overLimit).toEqual({ policy: 'credits', unitPrice: '0.66' });
    const team = plan(catalog, 'team').limits.enrichment_tokens?.overLimit;
    expect(team?.policy === 'credits' ? parseNanos(team.unitPrice!) : undefined).toBe(1_000_000_000n);
  });

  it('sells tokens worth 0.000005 EUR each in four packs, with no custom amount', () => {
    expect(catalog.credits).toEqual({
      unit: { id: 'tokens', name: 'tokens', value: '0.000005' },
      packs: [
        { id: 'starter', name: 'Starter', credits: '1000000', price: '5.00' },
        { id: 'standard', name: 'Standard', credits: '2500000', price: '10.00' },
        { id: 'pro', name: 'Pro', credits: '7000000', price: '25.00' },
        { id: 'enterprise', name: 'Enterprise', credits: '15000000', price: '50.00' },
      ],
      lowBalanceThreshold: '500000',
      autoRecharge: { defaultSpendingLimit: '50.00', retryHours: [1, 6, 24] },
    });
    const credits = catalog.credits!;
    const value = parseNanos((credits.unit as { value: string }).value);
    expect(value).toBe(5_000n);
    // Starter sells at the unit value (1,000,000 × 0.000005 = 5.00); bigger packs are cheaper a token
    const perToken = credits.packs.map((p) => Number(parseNanos(p.price)) / Number(parseNanos(p.credits!)));
    expect(parseNanos(credits.packs[0]!.credits!) * value).toBe(parseNanos('5.00') * 1_000_000_000n);
    expect(perToken.every((x, i) => i === 0 || x < perToken[i - 1]!)).toBe(true);
  });
});

describe('parseCatalog rejects bad catalogs, naming the path', () => {
  const cases: Array<[string, (c: Loose) => void, string]> = [
    ['an unknown metric in limits', (c) => { c.plans[1]!.limits.foo = { included: 1, overLimit: { policy: 'reject' } }; }, 'plans[1].limits.foo: unknown metric'],
    ['a missing metric', (c) => { delete c.plans[2]!.limits.api_calls; }, 'plans[2].limits: missing metric "api_calls"'],
    ['a duplicate plan id', (c) => { c.plans[1]!.id = 'free'; }, 'plans: duplicate plan id "free"'],
    ['a duplicate tier', (c) => { c.plans[3]!.tier = 2; }, 'plans: two plans share tier 2'],
    ['a duplicate metric id', (c) => { c.metrics = [{ id: 'api_calls', name: 'A', unit: 'a' }, { id: 'api_calls', name: 'B', unit: 'b' }]; }, 'metrics: duplicate metric id "api_calls"'],
    ['a fallbackPlan that is not a plan', (c) => { c.fallbackPlan = 'gratis'; }, 'fallbackPlan: "gratis" is not a plan id'],
    ['a bad currency', (c) => { c.currency = 'XYZ'; }, 'currency: must be a supported ISO 4217 currency code'],
    ['a lowercase currency', (c) => { c.currency = 'usd'; }, 'currency: must be a supported ISO 4217 currency code'],
    ['a price with too many decimals for the currency', (c) => { c.plans[1]!.price.monthly = '10.001'; }, 'plans[1].price.monthly: "10.001" has more than 2 decimal places for USD'],
    ['an explicit yearly price with too many decimals', (c) => { c.plans[2]!.price.yearly = '288.005'; }, 'plans[2].price.yearly: "288.005" has more than 2 decimal places for USD'],
    ['a price that is not a decimal string', (c) => { c.plans[1]!.price.monthly = '1e1'; }, 'plans[1].price.monthly: must be a non-negative decimal string'],
    ['a numeric price', (c) => { c.plans[1]!.price.monthly = 10; }, 'plans[1].price.monthly:'],
    ['a negative price', (c) => { c.plans[1]!.price.monthly = '-10.00'; }, 'plans[1].price.monthly: must be a non-negative decimal string'],
    ['a negative included quantity', (c) => { c.plans[0]!.limits.api_calls = { included: -1, overLimit: { policy: 'reject' } }; }, 'plans[0].limits.api_calls.included:'],
    ['a fractional included quantity', (c) => { c.plans[0]!.limits.api_calls = { included: 1.5, overLimit: { policy: 'reject' } }; }, 'plans[0].limits.api_calls.included:'],
    ['a bill policy without unitPrice', (c) => { c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'bill' } }; }, 'plans[3].limits.api_calls.overLimit.unitPrice:'],
    ['an unknown over-limit policy', (c) => { c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'throttle' } }; }, 'plans[3].limits.api_calls.overLimit'],
    ['an unknown top-level key', (c) => { c.colour = 'blue'; }, '(root): Unrecognized key: "colour"'],
    ['an unknown plan key', (c) => { c.plans[1]!.discount = 5; }, 'plans[1]: Unrecognized key: "discount"'],
    ['an unknown price key', (c) => { c.plans[1]!.price.weekly = '3.00'; }, 'plans[1].price: Unrecognized key: "weekly"'],
    ['an unknown key in a limit', (c) => { c.plans[0]!.limits.api_calls = { included: 1, hard: true, overLimit: { policy: 'reject' } }; }, 'plans[0].limits.api_calls: Unrecognized key: "hard"'],
    ['a reject policy with a unitPrice', (c) => { c.plans[0]!.limits.api_calls = { included: 1, overLimit: { policy: 'reject', unitPrice: '1' } }; }, 'plans[0].limits.api_calls.overLimit: Unrecognized key: "unitPrice"'],
    ['seats with max below min', (c) => { c.plans[1]!.seats = { included: 1, min: 5, max: 2, price: { monthly: '1.00' } }; }, 'plans[1].seats: max 2 is below min 5'],
    ['seats with min 0', (c) => { c.plans[1]!.seats = { included: 1, min: 0, price: { monthly: '1.00' } }; }, 'plans[1].seats.min:'],
    ['a seat price with too many decimals', (c) => { c.plans[1]!.seats = { included: 1, min: 1, price: { monthly: '1.005' } }; }, 'plans[1].seats.price.monthly: "1.005" has more than 2 decimal places for USD'],
    ['a bad plan id', (c) => { c.plans[1]!.id = 'Basic Plan'; }, 'plans[1].id: must be lowercase letters'],
    ['a bad metric id in limits keys', (c) => { c.plans[1]!.limits['API calls'] = { included: 1, overLimit: { policy: 'reject' } }; }, 'plans[1].limits'],
    ['no plans', (c) => { c.plans = []; }, 'plans:'],
    ['no metrics', (c) => { c.metrics = []; }, 'metrics:'],
    ['a zero cycle length', (c) => { c.cycleDays = 0; }, 'cycleDays:'],
    ['a yearly discount above 100', (c) => { c.yearlyDiscountPercent = 101; }, 'yearlyDiscountPercent:'],
    ['an unknown downgrade timing', (c) => { c.downgradeTiming = 'never'; }, 'downgradeTiming:'],
    ['a negative tier', (c) => { c.plans[0]!.tier = -1; }, 'plans[0].tier:'],
    // credits: the policy, its tiers, and the catalog's credits section
    ['a credits policy without a credits section', (c) => { c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', unitPrice: '0.0005' } }; }, 'plans[3].limits.api_calls.overLimit: the "credits" policy needs a "credits" section'],
    ['a credits policy with both unitPrice and tiers', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', unitPrice: '1', tiers: [{ unitPrice: '1' }] } }; }, 'plans[3].limits.api_calls.overLimit: give either "unitPrice" or "tiers"'],
    ['a credits policy with neither unitPrice nor tiers', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits' } }; }, 'plans[3].limits.api_calls.overLimit: give either "unitPrice" or "tiers"'],
    ['credit tiers not ascending', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ upTo: 100, unitPrice: '2' }, { upTo: 100, unitPrice: '1' }, { unitPrice: '0.5' }] } }; }, 'plans[3].limits.api_calls.overLimit.tiers[1]: upTo 100 must be above the tier before (100)'],
    ['credit tiers descending', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ upTo: 100, unitPrice: '2' }, { upTo: 50, unitPrice: '1' }, { unitPrice: '0.5' }] } }; }, 'plans[3].limits.api_calls.overLimit.tiers[1]: upTo 50 must be above the tier before (100)'],
    ['a last credit tier with upTo', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ upTo: 100, unitPrice: '2' }, { upTo: 200, unitPrice: '1' }] } }; }, 'plans[3].limits.api_calls.overLimit.tiers[1]: the last tier has no "upTo"'],
    ['a non-last credit tier without upTo', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ unitPrice: '2' }, { unitPrice: '1' }] } }; }, 'plans[3].limits.api_calls.overLimit.tiers[0]: "upTo" is required on every tier but the last'],
    ['no credit tiers at all', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [] } }; }, 'plans[3].limits.api_calls.overLimit.tiers:'],
    ['a credit tier upTo of 0', (c) => { withCredits(c); c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ upTo: 0, unitPrice: '2' }, { unitPrice: '1' }] } }; }, 'plans[3].limits.api_calls.overLimit.tiers[0].upTo:'],
    ['duplicate credit pack ids', (c) => { withCredits(c, { packs: [{ id: 'p', name: 'A', price: '5.00' }, { id: 'p', name: 'B', price: '10.00' }] }); }, 'credits.packs: duplicate pack id "p"'],
    ['a credit pack price with too many decimals', (c) => { withCredits(c, { packs: [{ id: 'p', name: 'P', price: '5.001' }] }); }, 'credits.packs[0].price: "5.001" has more than 2 decimal places for USD'],
    ['a credit pack price of 0', (c) => { withCredits(c, { packs: [{ id: 'p', name: 'P', price: '0.00' }] }); }, 'credits.packs[0].price: must be more than 0'],
    ['a named-unit pack without credits', (c) => { withCredits(c, { unit: { id: 'tokens', name: 'tokens', value: '0.000005' }, packs: [{ id: 'p', name: 'P', price: '5.00' }] }); }, 'credits.packs[0].credits: required for tokens'],
    ['a named-unit pack of 0 credits', (c) => { withCredits(c, { unit: { id: 'tokens', name: 'tokens', value: '0.000005' }, packs: [{ id: 'p', name: 'P', credits: '0', price: '5.00' }] }); }, 'credits.packs[0].credits: must be more than 0'],
    ['a money pack whose credits differ from its price', (c) => { withCredits(c, { packs: [{ id: 'p', name: 'P', credits: '55.00', price: '50.00' }] }); }, 'credits.packs[0].credits: money credits are worth their price; leave "credits" out'],
    ['a customAmount max below min', (c) => { withCredits(c, { customAmount: { min: '100.00', max: '10.00' } }); }, 'credits.customAmount: max is below min'],
    ['a customAmount min of 0', (c) => { withCredits(c, { customAmount: { min: '0', max: '10.00' } }); }, 'credits.customAmount.min: must be more than 0'],
    ['a customAmount with too many decimals', (c) => { withCredits(c, { customAmount: { min: '1.00', max: '10.005' } }); }, 'credits.customAmount.max: "10.005" has more than 2 decimal places for USD'],
    ['no packs and no customAmount', (c) => { withCredits(c, { packs: [] }); }, 'credits: offer at least one pack or a customAmount'],
    ['auto-recharge retryHours not increasing', (c) => { withCredits(c, { autoRecharge: { retryHours: [1, 6, 6] } }); }, 'credits.autoRecharge.retryHours: each retry must come later than the one before'],
    ['auto-recharge retryHours decreasing', (c) => { withCredits(c, { autoRecharge: { retryHours: [6, 1] } }); }, 'credits.autoRecharge.retryHours: each retry must come later than the one before'],
    ['auto-recharge retryHours of 0', (c) => { withCredits(c, { autoRecharge: { retryHours: [0] } }); }, 'credits.autoRecharge.retryHours[0]:'],
    ['a default spending limit with too many decimals', (c) => { withCredits(c, { autoRecharge: { defaultSpendingLimit: '50.001' } }); }, 'credits.autoRecharge.defaultSpendingLimit: "50.001" has more than 2 decimal places for USD'],
    ['a named unit worth 0', (c) => { withCredits(c, { unit: { id: 'tokens', name: 'tokens', value: '0' }, packs: [{ id: 'p', name: 'P', credits: '1000', price: '5.00' }] }); }, 'credits.unit.value: must be more than 0'],
    ['a named unit with a bad id', (c) => { withCredits(c, { unit: { id: 'Tokens', name: 'tokens', value: '0.01' }, packs: [{ id: 'p', name: 'P', credits: '1000', price: '5.00' }] }); }, 'credits.unit'],
    ['an unknown key in credits', (c) => { withCredits(c, { bonus: '10%' }); }, 'credits: Unrecognized key: "bonus"'],
    [
      'a plan sold yearly whose seats have only a monthly price, with no discount to derive one',
      (c) => {
        delete c.yearlyDiscountPercent;
        c.plans[2]!.price.yearly = '288.00';
        c.plans[2]!.seats = { included: 1, min: 1, price: { monthly: '5.00' } };
      },
      'plans[2].seats.price.yearly: the plan has a yearly price, so its seats need one too',
    ],
    [
      'a derived yearly price that is not exact (JPY monthly 1 at 15% off)',
      (c) => {
        c.currency = 'JPY';
        c.yearlyDiscountPercent = 15;
        for (const p of c.plans) p.price.monthly = p.id === 'free' ? '0' : '1';
      },
      'plans[1].price: the yearly price derived from 15% off is not a whole JPY minor unit; give price.yearly explicitly',
    ],
  ];

  it.each(cases)('%s', (_name, change, expected) => {
    const error = catalogErrorOf(() => parseCatalog(mutated(change)));
    expect(error.code).toBe('invalid_catalog');
    expect(error.name).toBe('CatalogError');
    expect(error.problems.some((p) => p.startsWith(expected))).toBe(true);
    expect(error.message).toContain(expected);
    expect(error.message.startsWith('catalog is invalid:\n')).toBe(true);
  });

  it('lists every problem at once', () => {
    const error = catalogErrorOf(() =>
      parseCatalog(
        mutated((c) => {
          c.plans[1]!.id = 'free';
          c.plans[3]!.tier = 2;
          c.fallbackPlan = 'gratis';
        }),
      ),
    );
    expect(error.problems).toEqual([
      'plans: duplicate plan id "free"',
      'plans: two plans share tier 2; tiers order upgrades and must be unique',
      'fallbackPlan: "gratis" is not a plan id',
    ]);
  });

  it('accepts valid credits: defaults filled, tiers ascending, a money pack whose credits equal its price', () => {
    const catalog = parseCatalog(
      mutated((c) => {
        withCredits(c, { packs: [{ id: 'usd_50', name: '$50', credits: '50', price: '50.00' }] });
        c.plans[3]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', tiers: [{ upTo: 10, unitPrice: '0.001' }, { upTo: 20, unitPrice: '0.0005' }, { unitPrice: '0' }] } };
        c.plans[2]!.limits.api_calls = { included: 1, overLimit: { policy: 'credits', unitPrice: '0.0005' } };
      }),
    );
    expect(catalog.credits).toEqual({
      unit: 'money',
      packs: [{ id: 'usd_50', name: '$50', credits: '50', price: '50.00' }],
      autoRecharge: { defaultSpendingLimit: '50.00', retryHours: [1, 6, 24] },
    });
    const partial = parseCatalog(mutated((c) => { withCredits(c, { customAmount: { min: '5.00', max: '5.00' }, packs: [], autoRecharge: { retryHours: [2] } }); }));
    expect(partial.credits?.autoRecharge).toEqual({ defaultSpendingLimit: '50.00', retryHours: [2] });
    expect(partial.credits?.customAmount).toEqual({ min: '5.00', max: '5.00' });
  });

  it('lists every credits problem at once', () => {
    const error = catalogErrorOf(() =>
      parseCatalog(
        mutated((c) => {
          withCredits(c, {
            unit: { id: 'tokens', name: 'tokens', value: '0' },
            packs: [{ id: 'p', name: 'A', price: '5.001' }, { id: 'p', name: 'B', credits: '10', price: '1.00' }],
            customAmount: { min: '2.00', max: '1.00' },
            autoRecharge: { retryHours: [3, 2] },
          });
        }),
      ),
    );
    expect(error.problems).toEqual([
      'credits.unit.value: must be more than 0 (what one credit is worth)',
      'credits.packs: duplicate pack id "p"',
      'credits.packs[0].price: "5.001" has more than 2 decimal places for USD',
      'credits.packs[0].credits: required for tokens (how many the pack holds)',
      'credits.customAmount: max is below min',
      'credits.autoRecharge.retryHours: each retry must come later than the one before',
    ]);
  });

  it('the JPY derived-yearly problem goes away with an explicit yearly price', () => {
    const input = mutated((c) => {
      c.currency = 'JPY';
      c.yearlyDiscountPercent = 15;
      for (const p of c.plans) {
        p.price.monthly = p.id === 'free' ? '0' : '1000';
        if (p.id === 'basic') {
          p.price.monthly = '1';
          p.price.yearly = '10';
        }
      }
    });
    const catalog = parseCatalog(input);
    expect(planPriceNanos(catalog, plan(catalog, 'basic'), 'yearly')).toBe(10_000_000_000n);
    // 1000 × 12 × 85% = 10200 yen exactly
    expect(priceString(catalog, plan(catalog, 'pro'), 'yearly')).toBe('10200');
  });

  it('names the source in the message', () => {
    const error = catalogErrorOf(() => parseCatalog(mutated((c) => { c.currency = 'XYZ'; }), 'plans.json'));
    expect(error.message.startsWith('plans.json is invalid:\n  - currency:')).toBe(true);
  });

  it('rejects non-objects at the root', () => {
    expect(catalogErrorOf(() => parseCatalog(null)).problems[0]).toMatch(/^\(root\): /);
    expect(catalogErrorOf(() => parseCatalog([])).problems[0]).toMatch(/^\(root\): /);
  });

  it('fills defaults: cycleDays 30, downgradeTiming immediate, features {}', () => {
    const input = mutated((c) => {
      delete c.cycleDays;
      delete c.downgradeTiming;
      delete c.yearlyDiscountPercent;
      // Its yearly → monthly rule needs yearly prices.
      delete c.changeRules;
    });
    const catalog = parseCatalog(input);
    expect(catalog.cycleDays).toBe(30);
    expect(catalog.downgradeTiming).toBe('immediate');
    expect(catalog.yearlyDiscountPercent).toBeUndefined();
    expect(plan(catalog, 'free').features).toEqual({});
  });
});

describe('loadCatalog(path) errors', () => {
  function withTempDir<T>(use: (dir: string) => T): T {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-catalog-'));
    try {
      return use(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a file that is not JSON', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'bad.json');
      writeFileSync(file, '{ "currency": "USD", ');
      const error = catalogErrorOf(() => loadCatalog(file));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^not valid JSON: /);
      expect(error.message.startsWith(`${file} is invalid:`)).toBe(true);
    });
  });

  it('a missing file', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'nope.json');
      const error = catalogErrorOf(() => loadCatalog(file));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^cannot read the file: ENOENT/);
      expect(error.message.startsWith(`${file} is invalid:`)).toBe(true);
    });
  });

  it('a valid JSON file with a semantic problem names the file and the path', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify(mutated((c) => { c.fallbackPlan = 'gratis'; })));
      const error = catalogErrorOf(() => loadCatalog(file));
      expect(error.problems).toEqual(['fallbackPlan: "gratis" is not a plan id']);
      expect(error.message).toBe(`${file} is invalid:\n  - fallbackPlan: "gratis" is not a plan id`);
    });
  });

  it('a valid file written elsewhere loads', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify(rawDefault()));
      expect(loadCatalog(file)).toEqual(loadCatalog(DEFAULT_CATALOG_PATH));
    });
  });
});

describe('seat helpers', () => {
  const seatsCatalog = loadCatalog(SEATS_EUR_PATH);
  const defaultCatalog = loadCatalog(DEFAULT_CATALOG_PATH);

  it('defaultSeats: 1 without seats, else max(min, included)', () => {
    expect(defaultSeats(plan(defaultCatalog, 'pro'))).toBe(1);
    expect(defaultSeats(plan(seatsCatalog, 'personal'))).toBe(1);
    expect(defaultSeats(plan(seatsCatalog, 'team'))).toBe(3);
    expect(defaultSeats(plan(seatsCatalog, 'business'))).toBe(10);
    expect(defaultSeats(plan(seatsCatalog, 'enterprise'))).toBe(25);
    const minAboveIncluded = parseCatalog(mutated((c) => { c.plans[1]!.seats = { included: 2, min: 5, price: { monthly: '1.00' } }; }));
    expect(defaultSeats(plan(minAboveIncluded, 'basic'))).toBe(5);
  });

  it('seatProblem: plans without seats take exactly 1', () => {
    expect(seatProblem(plan(defaultCatalog, 'pro'), 1)).toBeUndefined();
    expect(seatProblem(plan(defaultCatalog, 'pro'), 2)).toBe('plan pro is not seat-based; seats must be 1');
    expect(seatProblem(plan(defaultCatalog, 'pro'), 0)).toBe('plan pro is not seat-based; seats must be 1');
  });

  it('seatProblem: min and max bound seat-based plans, inclusively', () => {
    const team = plan(seatsCatalog, 'team');
    expect(seatProblem(team, 0)).toBe('plan team needs at least 1 seats');
    expect(seatProblem(team, 1)).toBeUndefined();
    expect(seatProblem(team, 20)).toBeUndefined();
    expect(seatProblem(team, 21)).toBe('plan team allows at most 20 seats');
    const business = plan(seatsCatalog, 'business');
    expect(seatProblem(business, 2)).toBe('plan business needs at least 3 seats');
    expect(seatProblem(business, 3)).toBeUndefined();
    const enterprise = plan(seatsCatalog, 'enterprise');
    expect(seatProblem(enterprise, 9)).toBe('plan enterprise needs at least 10 seats');
    expect(seatProblem(enterprise, 100_000)).toBeUndefined();
  });

  it('the default seat count of every plan of the example catalogs is allowed', () => {
    for (const catalog of [seatsCatalog, defaultCatalog, loadCatalog(USAGE_METRICS_PATH)]) {
      for (const p of catalog.plans) expect(seatProblem(p, defaultSeats(p))).toBeUndefined();
    }
  });

  // A catalog that parseCatalog accepts should never have a plan whose own default seat count it
  // refuses: with included > max, defaultSeats() returns `included`, which seatProblem() rejects,
  // so a new subscription with default seats could never start on that plan.
  it('parseCatalog refuses seats whose included count exceeds max (defaultSeats would be refused)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 }), (included, min, max) => {
        const input = mutated((c) => { c.plans[1]!.seats = { included, min, max, price: { monthly: '1.00' } }; });
        let catalog: Catalog;
        try {
          catalog = parseCatalog(input);
        } catch (error) {
          expect(error).toBeInstanceOf(CatalogError);
          return;
        }
        const basic = plan(catalog, 'basic');
        expect(seatProblem(basic, defaultSeats(basic))).toBeUndefined();
      }),
      { examples: [[10, 1, 5]] },
    );
  });
});

describe('offersYearly, planPriceNanos, seatPriceNanos', () => {
  const seatsCatalog = loadCatalog(SEATS_EUR_PATH);
  const defaultCatalog = loadCatalog(DEFAULT_CATALOG_PATH);
  const noYearly = parseCatalog(mutated((c) => {
    delete c.yearlyDiscountPercent;
    c.plans[2]!.price.yearly = '300.00';
  }));

  it('offersYearly: with a catalog discount every plan; without, only plans with an explicit yearly price', () => {
    for (const p of defaultCatalog.plans) expect(offersYearly(defaultCatalog, p)).toBe(true);
    expect(noYearly.plans.map((p) => offersYearly(noYearly, p))).toEqual([false, false, true, false]);
  });

  it('planPriceNanos: monthly, derived yearly, explicit yearly', () => {
    expect(planPriceNanos(defaultCatalog, plan(defaultCatalog, 'basic'), 'monthly')).toBe(10_000_000_000n);
    expect(planPriceNanos(defaultCatalog, plan(defaultCatalog, 'basic'), 'yearly')).toBe(96_000_000_000n);
    expect(planPriceNanos(noYearly, plan(noYearly, 'pro'), 'yearly')).toBe(300_000_000_000n);
    expect(planPriceNanos(noYearly, plan(noYearly, 'basic'), 'monthly')).toBe(10_000_000_000n);
    expect(() => planPriceNanos(noYearly, plan(noYearly, 'basic'), 'yearly')).toThrow('this catalog has no yearly prices');
    // seats-eur: 15% off derived, explicit 4990.00 on enterprise
    expect(formatNanos(planPriceNanos(seatsCatalog, plan(seatsCatalog, 'team'), 'yearly'), 'EUR')).toBe('295.80');
    expect(formatNanos(planPriceNanos(seatsCatalog, plan(seatsCatalog, 'personal'), 'yearly'), 'EUR')).toBe('91.80');
    expect(formatNanos(planPriceNanos(seatsCatalog, plan(seatsCatalog, 'enterprise'), 'yearly'), 'EUR')).toBe('4990.00');
  });

  it('seatPriceNanos: 0 without seats; monthly, derived yearly, explicit yearly', () => {
    expect(seatPriceNanos(defaultCatalog, plan(defaultCatalog, 'pro'), 'monthly')).toBe(0n);
    expect(seatPriceNanos(defaultCatalog, plan(defaultCatalog, 'pro'), 'yearly')).toBe(0n);
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'personal'), 'yearly')).toBe(0n);
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'team'), 'monthly')).toBe(8_000_000_000n);
    // 8.00 × 12 × 85% = 81.60
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'team'), 'yearly')).toBe(81_600_000_000n);
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'business'), 'monthly')).toBe(7_000_000_000n);
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'business'), 'yearly')).toBe(72_000_000_000n);
    expect(seatPriceNanos(seatsCatalog, plan(seatsCatalog, 'enterprise'), 'yearly')).toBe(61_200_000_000n);
  });

  it('every yearly price of an accepted catalog is a whole minor unit (plans, property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100_000 }), (discount, cents) => {
        const monthly = formatNanos(BigInt(cents) * 10_000_000n, 'EUR');
        const input = mutated((c) => {
          c.currency = 'EUR';
          c.yearlyDiscountPercent = discount;
          c.plans[1]!.price.monthly = monthly;
        });
        let catalog: Catalog;
        try {
          catalog = parseCatalog(input);
        } catch (error) {
          expect(error).toBeInstanceOf(CatalogError);
          expect((error as CatalogError).problems).toEqual([
            `plans[1].price: the yearly price derived from ${discount}% off is not a whole EUR minor unit; give price.yearly explicitly`,
          ]);
          return;
        }
        const yearly = planPriceNanos(catalog, plan(catalog, 'basic'), 'yearly');
        expect(yearly % 10_000_000n).toBe(0n);
        expect(yearly * 100n).toBe(BigInt(cents) * 10_000_000n * 12n * BigInt(100 - discount));
      }),
    );
  });

  // parseCatalog refuses a plan whose derived yearly price is not a whole minor unit, and refuses an
  // explicit seats.price.yearly with too many places, but it never checks the *derived* yearly seat
  // price: 0.01 EUR a seat at 15% off is 0.102 EUR a year, a fraction of a cent, and the catalog is
  // accepted. seatPriceNanos then returns 102,000,000 nanos for invoice lines.
  it('parseCatalog refuses a seat price whose derived yearly price is not a whole minor unit', () => {
    const input = mutated((c) => {
      c.currency = 'EUR';
      c.yearlyDiscountPercent = 15;
      c.plans[1]!.seats = { included: 1, min: 1, price: { monthly: '0.01' } };
    });
    const error = catalogErrorOf(() => parseCatalog(input));
    expect(error.problems.some((p) => p.startsWith('plans[1].seats.price'))).toBe(true);
  });
});
