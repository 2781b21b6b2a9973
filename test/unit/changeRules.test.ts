/**
 * Plan-change rules (billing/changeRules.ts): how a rule matches a change, which rule decides,
 * the built-in rules that reproduce the behaviour before rules existed, what `parseCatalog`
 * refuses in a catalog's rules, and what `evaluatePlanChange` answers under them (including the
 * three catalogs shipped in config/).
 */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CatalogError, parseCatalog, requirePlan, type Catalog, type ChangeRule, type Interval } from '../../billing/catalog.js';
import { builtInChangeRules, changeFactsOf, changeRuleProblems, changeTimingOf, ruleMatches, type ChangeFacts } from '../../billing/changeRules.js';
import { DAY_MS } from '../../billing/period.js';
import { evaluatePlanChange, type PlanChangeDecision, type PlanChangeRequest, type PlanChangeState } from '../../billing/planChange.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { SubscriptionEntity } from '../../workflows/subscriptionEntity.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';

const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const defaultCatalog = loadCatalog(path.join(configDir, 'catalog.json'));
const seatsCatalog = loadCatalog(path.join(configDir, 'examples/seats-eur.json'));
const usageCatalog = loadCatalog(path.join(configDir, 'examples/usage-metrics.json'));

const CYCLE = 30 * DAY_MS;
const YEAR = 12 * CYCLE;
const T0 = Date.UTC(2026, 10, 1);

/**
 * A small catalog to write rules against: free (0), basic (1), team (2, seats), pro (3), all
 * offered yearly (20% off). `extra` goes on top of it (changeRules, downgradeTiming…).
 */
function rawCatalog(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const limits = (included: number) => ({ calls: { included, overLimit: { policy: 'reject' } } });
  return {
    currency: 'USD',
    yearlyDiscountPercent: 20,
    fallbackPlan: 'free',
    metrics: [{ id: 'calls', name: 'API calls', unit: 'call' }],
    plans: [
      { id: 'free', name: 'Free', tier: 0, price: { monthly: '0' }, limits: limits(1_000) },
      { id: 'basic', name: 'Basic', tier: 1, price: { monthly: '10.00' }, limits: limits(30_000) },
      { id: 'team', name: 'Team', tier: 2, price: { monthly: '20.00' }, seats: { included: 2, min: 1, max: 10, price: { monthly: '5.00' } }, limits: limits(100_000) },
      { id: 'pro', name: 'Pro', tier: 3, price: { monthly: '30.00' }, limits: limits(300_000) },
    ],
    ...extra,
  };
}

function catalogWith(extra: Record<string, unknown> = {}): Catalog {
  return parseCatalog(rawCatalog(extra));
}

/** The problems `parseCatalog` lists for the small catalog with these rules (fails when it parses). */
function problemsOf(changeRules: unknown[], extra: Record<string, unknown> = {}): string[] {
  try {
    parseCatalog(rawCatalog({ changeRules, ...extra }));
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return (error as CatalogError).problems;
  }
  throw new Error('expected a CatalogError, but the catalog parsed');
}

/** Facts of a change, with defaults for a monthly basic → pro upgrade of one seat. */
function facts(overrides: Partial<ChangeFacts> = {}): ChangeFacts {
  return { fromPlan: 'basic', toPlan: 'pro', tier: 'up', fromInterval: 'monthly', toInterval: 'monthly', seats: 'same', ...overrides };
}

/** The facts of a change from (plan, interval, seats) to (plan, interval, seats) in a catalog. */
function factsIn(catalog: Catalog, from: [string, Interval, number], to: [string, Interval, number]): ChangeFacts {
  return changeFactsOf(
    { plan: requirePlan(catalog, from[0]), interval: from[1], seats: from[2] },
    { plan: requirePlan(catalog, to[0]), interval: to[1], seats: to[2] },
  );
}

/** A decision state: monthly (one cycle) or yearly (the first cycle of a year), no change scheduled. */
function state(planId: string, overrides: Partial<PlanChangeState> = {}): PlanChangeState {
  const interval = overrides.interval ?? 'monthly';
  return {
    planId,
    interval,
    seats: 1,
    period: { start: T0, end: T0 + (interval === 'yearly' ? YEAR : CYCLE) },
    cycle: { start: T0, end: T0 + CYCLE },
    cancelAtPeriodEnd: false,
    downgradesThisCycle: 0,
    ...overrides,
  };
}

function decide(catalog: Catalog, s: PlanChangeState, request: PlanChangeRequest, usage: Record<string, number> = {}, now = T0 + DAY_MS): PlanChangeDecision {
  return evaluatePlanChange({ catalog, state: s, request, usage: new Map(Object.entries(usage).map(([m, n]) => [m, BigInt(n)])), now });
}

function allowed(decision: PlanChangeDecision): Extract<PlanChangeDecision, { allowed: true }> {
  if (!decision.allowed) throw new Error(`expected the change to be allowed, got ${decision.code}: ${decision.message}`);
  return decision;
}

describe('ruleMatches: each condition alone', () => {
  it('an empty `when` matches every change', () => {
    for (const f of [facts(), facts({ tier: 'down', seats: 'down' }), facts({ fromInterval: 'yearly', toInterval: 'monthly', tier: 'same', toPlan: 'basic' })]) {
      expect(ruleMatches({}, f)).toBe(true);
    }
  });

  it('fromPlan as one id', () => {
    expect(ruleMatches({ fromPlan: 'basic' }, facts())).toBe(true);
    expect(ruleMatches({ fromPlan: 'pro' }, facts())).toBe(false);
    // it names the plan changed from, not the one asked for
    expect(ruleMatches({ fromPlan: 'pro' }, facts({ fromPlan: 'basic', toPlan: 'pro' }))).toBe(false);
  });

  it('fromPlan as several ids: any of them', () => {
    expect(ruleMatches({ fromPlan: ['free', 'basic'] }, facts())).toBe(true);
    expect(ruleMatches({ fromPlan: ['basic'] }, facts())).toBe(true);
    expect(ruleMatches({ fromPlan: ['free', 'team'] }, facts())).toBe(false);
  });

  it('toPlan as one id', () => {
    expect(ruleMatches({ toPlan: 'pro' }, facts())).toBe(true);
    expect(ruleMatches({ toPlan: 'basic' }, facts())).toBe(false);
    // the plan asked for is the current one when only the interval or seats change
    expect(ruleMatches({ toPlan: 'team' }, facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: 'up' }))).toBe(true);
  });

  it('toPlan as several ids: any of them', () => {
    expect(ruleMatches({ toPlan: ['team', 'pro'] }, facts())).toBe(true);
    expect(ruleMatches({ toPlan: ['free', 'basic', 'team'] }, facts())).toBe(false);
  });

  it('tier up / down / same', () => {
    const cases: Array<[ChangeFacts['tier'], ChangeFacts]> = [
      ['up', facts({ tier: 'up' })],
      ['down', facts({ fromPlan: 'pro', toPlan: 'basic', tier: 'down' })],
      ['same', facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: 'up' })],
    ];
    for (const [wanted] of cases) {
      for (const [actual, f] of cases) expect(ruleMatches({ tier: wanted }, f)).toBe(wanted === actual);
    }
  });

  it('fromInterval and toInterval', () => {
    const yearlyToMonthly = facts({ fromPlan: 'pro', toPlan: 'pro', tier: 'same', fromInterval: 'yearly', toInterval: 'monthly' });
    expect(ruleMatches({ fromInterval: 'yearly' }, yearlyToMonthly)).toBe(true);
    expect(ruleMatches({ fromInterval: 'monthly' }, yearlyToMonthly)).toBe(false);
    expect(ruleMatches({ toInterval: 'monthly' }, yearlyToMonthly)).toBe(true);
    expect(ruleMatches({ toInterval: 'yearly' }, yearlyToMonthly)).toBe(false);
    // an interval condition matches a change that keeps the interval too
    expect(ruleMatches({ fromInterval: 'monthly' }, facts())).toBe(true);
    expect(ruleMatches({ toInterval: 'monthly' }, facts())).toBe(true);
  });

  it('seats up / down / same', () => {
    for (const wanted of ['up', 'down', 'same'] as const) {
      for (const actual of ['up', 'down', 'same'] as const) {
        expect(ruleMatches({ seats: wanted }, facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: actual }))).toBe(wanted === actual);
      }
    }
  });

  it('several conditions: all of them must match', () => {
    const when: ChangeRule['when'] = { fromPlan: ['pro', 'team'], toPlan: 'basic', tier: 'down', fromInterval: 'yearly', toInterval: 'monthly', seats: 'same' };
    const match = facts({ fromPlan: 'pro', toPlan: 'basic', tier: 'down', fromInterval: 'yearly', toInterval: 'monthly', seats: 'same' });
    expect(ruleMatches(when, match)).toBe(true);
    // each condition failing alone makes the rule not match
    const misses: Array<Partial<ChangeFacts>> = [
      { fromPlan: 'free' },
      { toPlan: 'free' },
      { tier: 'same' },
      { fromInterval: 'monthly' },
      { toInterval: 'yearly' },
      { seats: 'down' },
    ];
    for (const miss of misses) expect(ruleMatches(when, { ...match, ...miss })).toBe(false);
  });
});

describe('changeFactsOf', () => {
  const catalog = catalogWith();

  it('compares tiers and seat counts, and names both plans and intervals', () => {
    expect(factsIn(catalog, ['pro', 'yearly', 1], ['basic', 'monthly', 1])).toEqual({ fromPlan: 'pro', toPlan: 'basic', tier: 'down', fromInterval: 'yearly', toInterval: 'monthly', seats: 'same' });
    expect(factsIn(catalog, ['basic', 'monthly', 1], ['team', 'monthly', 4])).toEqual({ fromPlan: 'basic', toPlan: 'team', tier: 'up', fromInterval: 'monthly', toInterval: 'monthly', seats: 'up' });
    expect(factsIn(catalog, ['team', 'monthly', 5], ['team', 'yearly', 3])).toEqual({ fromPlan: 'team', toPlan: 'team', tier: 'same', fromInterval: 'monthly', toInterval: 'yearly', seats: 'down' });
  });
});

describe('changeTimingOf: which rule decides', () => {
  it('the first matching rule wins, and its index is reported', () => {
    const catalog = catalogWith({
      changeRules: [
        { when: { fromPlan: 'free' }, apply: 'refused', reason: 'Not from Free.' },
        { when: { tier: 'up' }, apply: 'period_end' },
        { when: { toPlan: 'pro' }, apply: 'immediate' },
      ],
    });
    // basic → pro matches rules 1 and 2: the earlier decides
    expect(changeTimingOf(catalog, facts())).toEqual({ apply: 'period_end', rule: 1 });
    // free → pro matches all three: rule 0, with its reason
    expect(changeTimingOf(catalog, facts({ fromPlan: 'free' }))).toEqual({ apply: 'refused', reason: 'Not from Free.', rule: 0 });
    // team → pro with seats down: rule 1 still (tier up)
    expect(changeTimingOf(catalog, facts({ fromPlan: 'team', seats: 'down' }))).toEqual({ apply: 'period_end', rule: 1 });
    // an interval switch on pro matches only rule 2
    expect(changeTimingOf(catalog, facts({ fromPlan: 'pro', tier: 'same', toInterval: 'yearly' }))).toEqual({ apply: 'immediate', rule: 2 });
  });

  it('the order of the rules is what decides, not how specific they are', () => {
    const specific = { when: { fromPlan: 'pro', toPlan: 'basic', tier: 'down' }, apply: 'refused', reason: 'Talk to us.' };
    const general = { when: { tier: 'down' }, apply: 'immediate' };
    const downgrade = facts({ fromPlan: 'pro', toPlan: 'basic', tier: 'down' });
    expect(changeTimingOf(catalogWith({ changeRules: [specific, general] }), downgrade)).toEqual({ apply: 'refused', reason: 'Talk to us.', rule: 0 });
    expect(changeTimingOf(catalogWith({ changeRules: [general, specific] }), downgrade)).toEqual({ apply: 'immediate', rule: 0 });
  });

  it('catalog rules come before the built-in ones', () => {
    // built-in: a downgrade is immediate (downgradeTiming's default); the catalog says period_end
    const downgrade = facts({ fromPlan: 'pro', toPlan: 'basic', tier: 'down' });
    expect(changeTimingOf(catalogWith(), downgrade)).toEqual({ apply: 'immediate', rule: null });
    expect(changeTimingOf(catalogWith({ changeRules: [{ when: { tier: 'down' }, apply: 'period_end' }] }), downgrade)).toEqual({ apply: 'period_end', rule: 0 });
    // built-in: a seat removal waits for the period end; the catalog says at once
    const seatRemoval = facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: 'down' });
    expect(changeTimingOf(catalogWith(), seatRemoval)).toEqual({ apply: 'period_end', rule: null });
    expect(changeTimingOf(catalogWith({ changeRules: [{ when: { seats: 'down' }, apply: 'immediate' }] }), seatRemoval)).toEqual({ apply: 'immediate', rule: 0 });
    // the catalog's rule wins even over downgradeTiming
    const overridden = catalogWith({ downgradeTiming: 'period_end', changeRules: [{ when: { tier: 'down' }, apply: 'immediate' }] });
    expect(changeTimingOf(overridden, downgrade)).toEqual({ apply: 'immediate', rule: 0 });
  });

  it('when no catalog rule matches, a built-in rule decides (rule null, no reason)', () => {
    const catalog = catalogWith({ changeRules: [{ when: { fromPlan: 'free', toPlan: 'pro' }, apply: 'refused', reason: 'Not straight to Pro.' }] });
    expect(changeTimingOf(catalog, facts())).toEqual({ apply: 'immediate', rule: null });
    expect(changeTimingOf(catalog, facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: 'down' }))).toEqual({ apply: 'period_end', rule: null });
    // an empty rule list is the same as none
    expect(changeTimingOf(catalogWith({ changeRules: [] }), facts({ fromPlan: 'pro', toPlan: 'basic', tier: 'down' }))).toEqual({ apply: 'immediate', rule: null });
  });

  it('a rule that applies a change reports no reason', () => {
    const timing = changeTimingOf(catalogWith({ changeRules: [{ when: {}, apply: 'period_end' }] }), facts());
    expect(timing).toEqual({ apply: 'period_end', rule: 0 });
    expect('reason' in timing).toBe(false);
  });
});

describe('the built-in rules reproduce the behaviour before rules existed', () => {
  const immediate = catalogWith();
  const deferred = catalogWith({ downgradeTiming: 'period_end' });

  it('end with a rule matching every change, so some rule always decides', () => {
    for (const timing of ['immediate', 'period_end'] as const) {
      const rules = builtInChangeRules({ downgradeTiming: timing });
      expect(rules[0]).toEqual({ when: { tier: 'down' }, apply: timing });
      expect(rules.at(-1)).toEqual({ when: {}, apply: 'immediate' });
    }
  });

  it('without changeRules, downgrades follow downgradeTiming: immediate by default, period_end when set', () => {
    expect(immediate.changeRules).toBeUndefined();
    expect(immediate.downgradeTiming).toBe('immediate');
    for (const [from, to] of [['pro', 'basic'], ['team', 'free'], ['pro', 'team']] as const) {
      for (const [fromInterval, toInterval] of [['monthly', 'monthly'], ['yearly', 'yearly'], ['yearly', 'monthly'], ['monthly', 'yearly']] as const) {
        const f = factsIn(immediate, [from, fromInterval, 1], [to, toInterval, 1]);
        expect(changeTimingOf(immediate, f)).toEqual({ apply: 'immediate', rule: null });
        expect(changeTimingOf(deferred, f)).toEqual({ apply: 'period_end', rule: null });
      }
    }
    // a downgrade that also removes seats is a downgrade first
    expect(changeTimingOf(immediate, factsIn(immediate, ['team', 'monthly', 5], ['basic', 'monthly', 1]))).toEqual({ apply: 'immediate', rule: null });
  });

  it('a seat removal on the same plan and interval waits for the period end (monthly and yearly)', () => {
    for (const catalog of [immediate, deferred]) {
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'monthly', 5], ['team', 'monthly', 3]))).toEqual({ apply: 'period_end', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'yearly', 5], ['team', 'yearly', 3]))).toEqual({ apply: 'period_end', rule: null });
    }
  });

  it('a same-tier interval switch that also removes seats is immediate (either way)', () => {
    for (const catalog of [immediate, deferred]) {
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'monthly', 5], ['team', 'yearly', 3]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'yearly', 5], ['team', 'monthly', 3]))).toEqual({ apply: 'immediate', rule: null });
    }
  });

  it('upgrades, seat additions and interval switches are immediate', () => {
    for (const catalog of [immediate, deferred]) {
      expect(changeTimingOf(catalog, factsIn(catalog, ['basic', 'monthly', 1], ['pro', 'monthly', 1]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['basic', 'yearly', 1], ['team', 'monthly', 1]))).toEqual({ apply: 'immediate', rule: null });
      // an upgrade to fewer seats is an upgrade
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'monthly', 5], ['pro', 'monthly', 1]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'monthly', 3], ['team', 'monthly', 5]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['team', 'yearly', 3], ['team', 'yearly', 5]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['pro', 'monthly', 1], ['pro', 'yearly', 1]))).toEqual({ apply: 'immediate', rule: null });
      expect(changeTimingOf(catalog, factsIn(catalog, ['pro', 'yearly', 1], ['pro', 'monthly', 1]))).toEqual({ apply: 'immediate', rule: null });
    }
  });

  it('through evaluatePlanChange: the same decisions, with kind and rule null', () => {
    expect(decide(immediate, state('pro'), { planId: 'basic' })).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'immediate', rule: null });
    expect(decide(deferred, state('pro'), { planId: 'basic' })).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'period_end', rule: null });
    expect(decide(immediate, state('team', { seats: 5 }), { seats: 3 })).toMatchObject({ allowed: true, kind: 'seats_removed', effective: 'period_end', rule: null });
    expect(decide(immediate, state('team', { seats: 5 }), { interval: 'yearly', seats: 3 })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'immediate', rule: null });
    expect(decide(immediate, state('team', { seats: 3 }), { seats: 5 })).toMatchObject({ allowed: true, kind: 'seats_added', effective: 'immediate', rule: null });
    expect(decide(deferred, state('basic'), { planId: 'pro' })).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate', rule: null });
  });
});

describe('parseCatalog validates the rules', () => {
  it('accepts valid rules and keeps them as written (a missing `when` is a catch-all)', () => {
    const catalog = catalogWith({
      changeRules: [
        { when: { fromPlan: ['pro', 'team'], toPlan: 'basic', tier: 'down', fromInterval: 'yearly', toInterval: 'monthly', seats: 'same' }, apply: 'refused', reason: 'No.' },
        { apply: 'immediate' },
      ],
    });
    expect(catalog.changeRules).toEqual([
      { when: { fromPlan: ['pro', 'team'], toPlan: 'basic', tier: 'down', fromInterval: 'yearly', toInterval: 'monthly', seats: 'same' }, apply: 'refused', reason: 'No.' },
      { when: {}, apply: 'immediate' },
    ]);
    expect(changeRuleProblems(catalog)).toEqual([]);
  });

  it('unknown plan ids, as one id or inside an array, in fromPlan and toPlan', () => {
    expect(problemsOf([{ when: { fromPlan: 'gold' }, apply: 'immediate' }])).toEqual(['changeRules[0].when.fromPlan: unknown plan "gold"']);
    expect(problemsOf([{ when: { toPlan: 'gold' }, apply: 'immediate' }])).toEqual(['changeRules[0].when.toPlan: unknown plan "gold"']);
    expect(problemsOf([{ when: { fromPlan: ['basic', 'gold'] }, apply: 'immediate' }])).toEqual(['changeRules[0].when.fromPlan: unknown plan "gold"']);
    expect(problemsOf([
      { when: { tier: 'up' }, apply: 'immediate' },
      { when: { toPlan: ['silver', 'pro', 'gold'] }, apply: 'period_end' },
    ])).toEqual([
      'changeRules[1].when.toPlan: unknown plan "silver"',
      'changeRules[1].when.toPlan: unknown plan "gold"',
    ]);
  });

  it('a refusing rule needs a reason', () => {
    expect(problemsOf([{ when: { tier: 'down' }, apply: 'refused' }])).toEqual(['changeRules[0].reason: a rule that refuses a change needs a reason to show the customer']);
    // a blank reason is no reason
    expect(problemsOf([{ when: { tier: 'down' }, apply: 'refused', reason: '   ' }])).toEqual(['changeRules[0].reason: Too small: expected string to have >=1 characters']);
  });

  it('only a refusing rule may have a reason', () => {
    expect(problemsOf([{ when: { tier: 'down' }, apply: 'immediate', reason: 'Why?' }])).toEqual(['changeRules[0].reason: only a rule that refuses a change has a reason (this one applies it at once)']);
    expect(problemsOf([{ when: { tier: 'down' }, apply: 'period_end', reason: 'Why?' }])).toEqual(['changeRules[0].reason: only a rule that refuses a change has a reason (this one applies it at the period end)']);
  });

  it('a rule after a catch-all never applies', () => {
    expect(problemsOf([{ when: {}, apply: 'immediate' }, { when: { tier: 'down' }, apply: 'period_end' }]))
      .toEqual(['changeRules[1]: never applies: changeRules[0] before it matches every change (the first rule that matches decides)']);
    // a missing `when` is a catch-all too, and every later rule is named, each with the first catch-all
    expect(problemsOf([{ when: { tier: 'up' }, apply: 'immediate' }, { apply: 'period_end' }, { when: {}, apply: 'immediate' }, { when: { seats: 'down' }, apply: 'immediate' }])).toEqual([
      'changeRules[2]: never applies: changeRules[1] before it matches every change (the first rule that matches decides)',
      'changeRules[3]: never applies: changeRules[1] before it matches every change (the first rule that matches decides)',
    ]);
  });

  it('a catch-all as the last rule is fine (it replaces the built-in rules)', () => {
    const catalog = catalogWith({ changeRules: [{ when: { tier: 'down' }, apply: 'period_end' }, { when: {}, apply: 'refused', reason: 'Only downgrades here.' }] });
    expect(changeTimingOf(catalog, facts())).toEqual({ apply: 'refused', reason: 'Only downgrades here.', rule: 1 });
    // a seat removal no longer reaches the built-in period_end rule
    expect(changeTimingOf(catalog, facts({ fromPlan: 'team', toPlan: 'team', tier: 'same', seats: 'down' }))).toEqual({ apply: 'refused', reason: 'Only downgrades here.', rule: 1 });
  });

  it('a rule naming the yearly interval in a catalog that sells nothing yearly is refused (it could never apply)', () => {
    expect(problemsOf([{ when: { fromInterval: 'yearly', toInterval: 'monthly' }, apply: 'period_end' }], { yearlyDiscountPercent: undefined }))
      .toEqual(['changeRules[0].when: names the yearly interval, but no plan of this catalog is sold yearly (give a yearly price or yearlyDiscountPercent)']);
    expect(problemsOf([{ when: { toInterval: 'yearly' }, apply: 'immediate' }], { yearlyDiscountPercent: undefined })).toHaveLength(1);
    // Monthly alone is fine, and one plan with a yearly price is enough.
    expect(() => parseCatalog(rawCatalog({ yearlyDiscountPercent: undefined, changeRules: [{ when: { fromInterval: 'monthly' }, apply: 'immediate' }] }))).not.toThrow();
    const withYearlyPro = rawCatalog({ yearlyDiscountPercent: undefined, changeRules: [{ when: { fromInterval: 'yearly', toInterval: 'monthly' }, apply: 'period_end' }] });
    (withYearlyPro.plans as Array<{ id: string; price: Record<string, string> }>).find((p) => p.id === 'pro')!.price.yearly = '300.00';
    expect(() => parseCatalog(withYearlyPro)).not.toThrow();
  });

  it('unknown keys in a rule or its `when` are refused (strict)', () => {
    expect(problemsOf([{ when: { plan: 'basic' }, apply: 'immediate' }])).toEqual(['changeRules[0].when: Unrecognized key: "plan"']);
    expect(problemsOf([{ when: { tier: 'down' }, apply: 'immediate', priority: 1 }])).toEqual(['changeRules[0]: Unrecognized key: "priority"']);
  });

  it('values outside the enums are refused', () => {
    expect(problemsOf([{ when: {}, apply: 'later' }])).toEqual(['changeRules[0].apply: Invalid option: expected one of "immediate"|"period_end"|"refused"']);
    expect(problemsOf([{ when: { tier: 'sideways' }, apply: 'immediate' }])).toEqual(['changeRules[0].when.tier: Invalid option: expected one of "up"|"down"|"same"']);
    expect(problemsOf([{ when: { seats: 'more' }, apply: 'immediate' }])).toEqual(['changeRules[0].when.seats: Invalid option: expected one of "up"|"down"|"same"']);
    expect(problemsOf([{ when: { fromInterval: 'weekly' }, apply: 'immediate' }])).toEqual(['changeRules[0].when.fromInterval: Invalid option: expected one of "monthly"|"yearly"']);
    expect(problemsOf([{ when: { fromPlan: [] }, apply: 'immediate' }])).toEqual(['changeRules[0].when.fromPlan: Too small: expected array to have >=1 items']);
    expect(problemsOf([{ when: {} }])).toEqual(['changeRules[0].apply: Invalid option: expected one of "immediate"|"period_end"|"refused"']);
  });

  it('reports several problems at once, each with its path', () => {
    const problems = problemsOf([
      { when: { fromPlan: 'gold', tier: 'down' }, apply: 'refused' },
      { when: { toPlan: ['basic', 'platinum'] }, apply: 'immediate', reason: 'Because.' },
      { when: {}, apply: 'period_end' },
      { when: { seats: 'down' }, apply: 'immediate' },
    ]);
    expect(problems).toEqual([
      'changeRules[0].when.fromPlan: unknown plan "gold"',
      'changeRules[0].reason: a rule that refuses a change needs a reason to show the customer',
      'changeRules[1].when.toPlan: unknown plan "platinum"',
      'changeRules[1].reason: only a rule that refuses a change has a reason (this one applies it at once)',
      'changeRules[3]: never applies: changeRules[2] before it matches every change (the first rule that matches decides)',
    ]);
    // shape problems are all listed too
    expect(problemsOf([{ when: { plan: 'basic' }, apply: 'immediate' }, { when: { tier: 'sideways' }, apply: 'later' }])).toEqual([
      'changeRules[0].when: Unrecognized key: "plan"',
      'changeRules[1].when.tier: Invalid option: expected one of "up"|"down"|"same"',
      'changeRules[1].apply: Invalid option: expected one of "immediate"|"period_end"|"refused"',
    ]);
  });

  it('rule problems are listed with the rest of the catalog\'s', () => {
    const problems = problemsOf([{ when: { toPlan: 'gold' }, apply: 'immediate' }], { fallbackPlan: 'nothing' });
    expect(problems).toEqual(['fallbackPlan: "nothing" is not a plan id', 'changeRules[0].when.toPlan: unknown plan "gold"']);
  });
});

describe('evaluatePlanChange with change rules', () => {
  it('a refusing rule answers change_not_allowed with its reason and its index', () => {
    const reason = 'Move off Pro with your account manager.';
    const catalog = catalogWith({ changeRules: [{ when: { seats: 'up' }, apply: 'immediate' }, { when: { fromPlan: 'pro', tier: 'down' }, apply: 'refused', reason }] });
    expect(decide(catalog, state('pro'), { planId: 'basic' })).toEqual({ allowed: false, code: 'change_not_allowed', message: reason, details: { rule: 1 } });
    // other changes from Pro are not refused
    expect(decide(catalog, state('pro'), { interval: 'yearly' })).toMatchObject({ allowed: true, kind: 'interval_change', rule: null });
    // a refusal by rule comes before the once-per-cycle limit and the usage allowance
    expect(decide(catalog, state('pro', { downgradesThisCycle: 1 }), { planId: 'basic' }, { calls: 299_999 })).toMatchObject({ code: 'change_not_allowed', details: { rule: 1 } });
  });

  it('a refusing rule can refuse upgrades, seat changes and interval switches too', () => {
    const catalog = catalogWith({
      changeRules: [
        { when: { toPlan: 'pro', tier: 'up' }, apply: 'refused', reason: 'Pro is sold by sales.' },
        { when: { seats: 'up' }, apply: 'refused', reason: 'No more seats.' },
        { when: { toInterval: 'yearly', fromInterval: 'monthly' }, apply: 'refused', reason: 'No yearly.' },
      ],
    });
    expect(decide(catalog, state('basic'), { planId: 'pro' })).toEqual({ allowed: false, code: 'change_not_allowed', message: 'Pro is sold by sales.', details: { rule: 0 } });
    expect(decide(catalog, state('team', { seats: 2 }), { seats: 3 })).toEqual({ allowed: false, code: 'change_not_allowed', message: 'No more seats.', details: { rule: 1 } });
    expect(decide(catalog, state('basic'), { interval: 'yearly' })).toEqual({ allowed: false, code: 'change_not_allowed', message: 'No yearly.', details: { rule: 2 } });
    expect(decide(catalog, state('basic'), { planId: 'team' })).toMatchObject({ allowed: true, kind: 'upgrade', rule: null });
  });

  it('a request refused for what it asks (unknown plan, seats, no change) is refused before any rule', () => {
    const catalog = catalogWith({ changeRules: [{ when: {}, apply: 'refused', reason: 'Frozen.' }] });
    expect(decide(catalog, state('basic'), { planId: 'gold' })).toMatchObject({ allowed: false, code: 'unknown_plan' });
    expect(decide(catalog, state('team', { seats: 2 }), { seats: 11 })).toMatchObject({ allowed: false, code: 'invalid_seats' });
    expect(decide(catalog, state('basic'), { planId: 'basic' })).toMatchObject({ allowed: false, code: 'no_change' });
    expect(decide(catalog, state('basic'), { planId: 'pro' })).toEqual({ allowed: false, code: 'change_not_allowed', message: 'Frozen.', details: { rule: 0 } });
  });

  it('a period-end downgrade needs no usage allowance, but still counts against the once-per-cycle limit', () => {
    const catalog = catalogWith({ changeRules: [{ when: { tier: 'down' }, apply: 'period_end' }] });
    // day 1 with usage at the target's whole limit: an immediate downgrade would be refused
    expect(decide(catalogWith(), state('pro'), { planId: 'basic' }, { calls: 30_000 })).toMatchObject({ allowed: false, code: 'usage_exceeds_downgrade_allowance' });
    const d = allowed(decide(catalog, state('pro'), { planId: 'basic' }, { calls: 250_000 }));
    expect(d).toMatchObject({ kind: 'downgrade', effective: 'period_end', rule: 0, next: { planId: 'basic', interval: 'monthly', seats: 1 } });
    expect(d.proration).toEqual({ period: { start: T0, end: T0 + CYCLE }, lines: [], netMinor: 0n });
    expect(decide(catalog, state('pro', { downgradesThisCycle: 1 }), { planId: 'basic' })).toMatchObject({ allowed: false, code: 'downgrade_limit_reached' });
    expect(decide(catalogWith({ downgradeTiming: 'period_end' }), state('pro', { downgradesThisCycle: 1 }), { planId: 'basic' })).toMatchObject({ allowed: false, code: 'downgrade_limit_reached' });
    // with downgradesPerCycle 0 no downgrade is ever allowed, at the period end or not
    expect(decide(catalogWith({ downgradesPerCycle: 0, downgradeTiming: 'period_end' }), state('pro'), { planId: 'basic' })).toMatchObject({ allowed: false, code: 'downgrade_limit_reached' });
    // with 2 per cycle, the second is allowed
    expect(decide(catalogWith({ downgradesPerCycle: 2, downgradeTiming: 'period_end' }), state('pro', { downgradesThisCycle: 1 }), { planId: 'basic' }, { calls: 250_000 })).toMatchObject({ allowed: true, effective: 'period_end' });
  });

  it('an immediate downgrade chosen by a rule checks the allowance', () => {
    const catalog = catalogWith({ downgradeTiming: 'period_end', changeRules: [{ when: { toPlan: 'basic' }, apply: 'immediate' }] });
    expect(decide(catalog, state('pro'), { planId: 'basic' }, { calls: 5_000 }, T0 + 4 * DAY_MS)).toMatchObject({ allowed: false, code: 'usage_exceeds_downgrade_allowance', details: { used: 5000, allowance: 4400, targetLimit: 30000 } });
    expect(decide(catalog, state('pro'), { planId: 'basic' }, { calls: 5_000 }, T0 + 14 * DAY_MS)).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'immediate', rule: 0 });
    // to team, no catalog rule matches: downgradeTiming (period_end) decides and no allowance is checked
    expect(decide(catalog, state('pro'), { planId: 'team' }, { calls: 200_000 }, T0 + 4 * DAY_MS)).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'period_end', rule: null });
  });

  it('a rule that makes an upgrade wait for the period end charges nothing now', () => {
    const catalog = catalogWith({ changeRules: [{ when: { tier: 'up' }, apply: 'period_end' }] });
    const d = allowed(decide(catalog, state('basic'), { planId: 'pro' }, {}, T0 + 10 * DAY_MS));
    expect(d).toMatchObject({ kind: 'upgrade', effective: 'period_end', rule: 0 });
    expect(d.proration).toEqual({ period: { start: T0, end: T0 + CYCLE }, lines: [], netMinor: 0n });
  });
});

describe('the example catalogs behave as their rules say', () => {
  describe('config/catalog.json (downgrades immediate, yearly → monthly at the period end)', () => {
    it('Pro → Basic is immediate, rule 1, and the usage allowance is checked', () => {
      expect(decide(defaultCatalog, state('pro'), { planId: 'basic' }, { api_calls: 5_000 }, T0 + 4 * DAY_MS))
        .toMatchObject({ allowed: false, code: 'usage_exceeds_downgrade_allowance', details: { metric: 'api_calls', used: 5000, allowance: 4400, targetLimit: 30000 } });
      const d = allowed(decide(defaultCatalog, state('pro'), { planId: 'basic' }, { api_calls: 5_000 }, T0 + 14 * DAY_MS));
      expect(d).toMatchObject({ kind: 'downgrade', effective: 'immediate', rule: 1 });
      expect(d.proration.netMinor).toBe(-1067n);
    });

    it('Basic yearly → monthly waits for the year end, rule 0, with nothing charged or credited', () => {
      const d = allowed(decide(defaultCatalog, state('basic', { interval: 'yearly' }), { interval: 'monthly' }, { api_calls: 20_000 }, T0 + 10 * DAY_MS));
      expect(d).toMatchObject({ kind: 'interval_change', effective: 'period_end', rule: 0, next: { planId: 'basic', interval: 'monthly', seats: 1 } });
      expect(d.proration).toEqual({ period: { start: T0, end: T0 + YEAR }, lines: [], netMinor: 0n });
      // the subscription: nothing invoiced, the monthly interval scheduled
      const s = new SubscriptionEntity(newSubscriptionInput({ catalog: defaultCatalog, customerId: 'c', planId: 'basic', interval: 'yearly', seats: 1, now: T0 }));
      const applied = s.applyChange({ interval: 'monthly', usage: {}, usageCycleStart: T0 }, T0 + 10 * DAY_MS);
      expect(applied.invoice).toBeUndefined();
      expect(applied.creditAppliedMinor).toBe(0n);
      expect(s.snapshot()).toMatchObject({ interval: 'yearly', pendingInterval: 'monthly', creditOwedMinor: '0' });
    });

    it('Pro yearly → Basic monthly is a downgrade, but rule 0 (yearly → monthly) decides first: period end, no allowance', () => {
      const d = decide(defaultCatalog, state('pro', { interval: 'yearly' }), { planId: 'basic', interval: 'monthly' }, { api_calls: 200_000 }, T0 + DAY_MS);
      expect(d).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'period_end', rule: 0 });
    });

    it('monthly → yearly and upgrades fall through to the built-in rules: immediate', () => {
      expect(decide(defaultCatalog, state('basic'), { interval: 'yearly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'immediate', rule: null });
      expect(decide(defaultCatalog, state('basic'), { planId: 'pro' })).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate', rule: null });
    });
  });

  describe('config/examples/seats-eur.json (downgrades, seat removals and yearly → monthly at the period end)', () => {
    it('Business → Team waits for the period end (rule 0), even with usage far above Team\'s allowance', () => {
      const far = { sessions: 900_000, events: 9_000_000, enrichment_tokens: 20_000_000, storage_gb: 900 };
      const d = allowed(decide(seatsCatalog, state('business', { seats: 12 }), { planId: 'team' }, far, T0 + DAY_MS));
      expect(d).toMatchObject({ kind: 'downgrade', effective: 'period_end', rule: 0, next: { planId: 'team', interval: 'monthly', seats: 12 } });
      expect(d.proration.netMinor).toBe(0n);
      // still once per cycle
      expect(decide(seatsCatalog, state('business', { seats: 12, downgradesThisCycle: 1 }), { planId: 'team' }, far, T0 + DAY_MS)).toMatchObject({ allowed: false, code: 'downgrade_limit_reached' });
    });

    it('a seat removal waits for the period end (rule 1), on either interval; a seat addition is immediate', () => {
      expect(decide(seatsCatalog, state('team', { seats: 5 }), { seats: 4 })).toMatchObject({ allowed: true, kind: 'seats_removed', effective: 'period_end', rule: 1 });
      expect(decide(seatsCatalog, state('business', { seats: 12, interval: 'yearly' }), { seats: 5 })).toMatchObject({ allowed: true, kind: 'seats_removed', effective: 'period_end', rule: 1 });
      const add = allowed(decide(seatsCatalog, state('team', { seats: 5 }), { seats: 7 }, {}, T0 + 15 * DAY_MS));
      expect(add).toMatchObject({ kind: 'seats_added', effective: 'immediate', rule: null });
      expect(add.proration.netMinor).toBeGreaterThan(0n);
    });

    it('a monthly → yearly switch that removes seats is a seat removal by its rules (rule 1), unlike the built-ins', () => {
      expect(decide(seatsCatalog, state('business', { seats: 12 }), { interval: 'yearly', seats: 5 })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'period_end', rule: 1 });
    });

    it('yearly → monthly waits for the year end (rule 2); monthly → yearly is immediate', () => {
      expect(decide(seatsCatalog, state('business', { seats: 12, interval: 'yearly' }), { interval: 'monthly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'period_end', rule: 2 });
      expect(decide(seatsCatalog, state('business', { seats: 12 }), { interval: 'yearly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'immediate', rule: null });
    });
  });

  describe('config/examples/usage-metrics.json (an Enterprise downgrade refused with a reason)', () => {
    const reason = 'Enterprise contracts are changed with your account manager: write to sales@example.com.';

    it('any downgrade from Enterprise is refused with the rule\'s reason (rule 0), whatever the usage or interval', () => {
      for (const planId of ['scale', 'growth', 'free']) {
        expect(decide(usageCatalog, state('enterprise'), { planId })).toEqual({ allowed: false, code: 'change_not_allowed', message: reason, details: { rule: 0 } });
      }
      expect(decide(usageCatalog, state('enterprise', { interval: 'yearly' }), { planId: 'scale', interval: 'monthly' })).toEqual({ allowed: false, code: 'change_not_allowed', message: reason, details: { rule: 0 } });
    });

    it('an upgrade to Enterprise and Enterprise interval switches are not refused', () => {
      expect(decide(usageCatalog, state('scale'), { planId: 'enterprise' })).toMatchObject({ allowed: true, kind: 'upgrade', effective: 'immediate', rule: null });
      expect(decide(usageCatalog, state('enterprise'), { interval: 'yearly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'immediate', rule: null });
      expect(decide(usageCatalog, state('enterprise', { interval: 'yearly' }), { interval: 'monthly' })).toMatchObject({ allowed: true, kind: 'interval_change', effective: 'period_end', rule: 1 });
      // Enterprise is not seat-based here: a seat change is refused for its seats, not by the rule
      expect(decide(usageCatalog, state('enterprise'), { seats: 2 })).toMatchObject({ allowed: false, code: 'invalid_seats' });
    });

    it('downgrades from other plans are immediate (rule 2) with the allowance checked', () => {
      expect(decide(usageCatalog, state('scale'), { planId: 'growth' }, {}, T0 + DAY_MS)).toMatchObject({ allowed: true, kind: 'downgrade', effective: 'immediate', rule: 2 });
      expect(decide(usageCatalog, state('scale'), { planId: 'growth' }, { build_minutes: 4_000 }, T0 + DAY_MS)).toMatchObject({ allowed: false, code: 'usage_exceeds_downgrade_allowance', details: { metric: 'build_minutes' } });
    });
  });
});
