/**
 * Plan-change policy as data (as Kill Bill's catalog change rules): which changes apply at once,
 * which wait for the period end and which are refused. A catalog lists ordered rules, each matched
 * on what the change does; the first that matches decides, and the built-in rules after the
 * catalog's reproduce what Tollgate did before rules existed. Pure: the workflow's decision and
 * the API's preview both read it through billing/planChange.ts.
 */
import type { Catalog, ChangeDirection, ChangeRule, Interval, Plan } from './catalog.js';

export type ChangeTimingRule = ChangeRule['apply'];

/** What a requested change does, in the terms rules match on. */
export interface ChangeFacts {
  fromPlan: string;
  toPlan: string;
  tier: ChangeDirection;
  fromInterval: Interval;
  toInterval: Interval;
  seats: ChangeDirection;
}

export interface ChangeTiming {
  apply: ChangeTimingRule;
  /** Shown to the customer when refused. */
  reason?: string;
  /** The catalog rule that decided (its index in `changeRules`), or null for a built-in rule. */
  rule: number | null;
}

const directionOf = (from: number, to: number): ChangeDirection => (to > from ? 'up' : to < from ? 'down' : 'same');

export function changeFactsOf(from: { plan: Plan; interval: Interval; seats: number }, to: { plan: Plan; interval: Interval; seats: number }): ChangeFacts {
  return {
    fromPlan: from.plan.id,
    toPlan: to.plan.id,
    tier: directionOf(from.plan.tier, to.plan.tier),
    fromInterval: from.interval,
    toInterval: to.interval,
    seats: directionOf(from.seats, to.seats),
  };
}

const matchesPlan = (wanted: string | string[] | undefined, plan: string) =>
  wanted === undefined || (typeof wanted === 'string' ? wanted === plan : wanted.includes(plan));

export function ruleMatches(when: ChangeRule['when'], facts: ChangeFacts): boolean {
  return matchesPlan(when.fromPlan, facts.fromPlan)
    && matchesPlan(when.toPlan, facts.toPlan)
    && (when.tier === undefined || when.tier === facts.tier)
    && (when.fromInterval === undefined || when.fromInterval === facts.fromInterval)
    && (when.toInterval === undefined || when.toInterval === facts.toInterval)
    && (when.seats === undefined || when.seats === facts.seats);
}

/**
 * The rules every catalog ends with. Downgrades follow `downgradeTiming` (immediate unless the
 * catalog says otherwise); removing seats on the same plan and interval waits for the period end
 * (PRODUCT.md: "removing seats takes effect at the next period"); everything else is immediate.
 */
export function builtInChangeRules(catalog: Pick<Catalog, 'downgradeTiming'>): ChangeRule[] {
  return [
    { when: { tier: 'down' }, apply: catalog.downgradeTiming },
    { when: { tier: 'same', fromInterval: 'monthly', toInterval: 'monthly', seats: 'down' }, apply: 'period_end' },
    { when: { tier: 'same', fromInterval: 'yearly', toInterval: 'yearly', seats: 'down' }, apply: 'period_end' },
    { when: {}, apply: 'immediate' },
  ];
}

/** The first rule, the catalog's then the built-in ones, that matches the change. */
export function changeTimingOf(catalog: Catalog, facts: ChangeFacts): ChangeTiming {
  const own = catalog.changeRules ?? [];
  const index = own.findIndex((rule) => ruleMatches(rule.when, facts));
  if (index >= 0) {
    const rule = own[index]!;
    return { apply: rule.apply, ...(rule.reason !== undefined ? { reason: rule.reason } : {}), rule: index };
  }
  // The built-in list ends with a rule matching everything.
  const builtIn = builtInChangeRules(catalog).find((rule) => ruleMatches(rule.when, facts))!;
  return { apply: builtIn.apply, rule: null };
}

const matchesEverything = (when: ChangeRule['when']) => Object.values(when).every((v) => v === undefined);

/** What is wrong with a catalog's rules beyond their shape (checked with the rest of the catalog at start-up). */
export function changeRuleProblems(catalog: Catalog): string[] {
  const problems: string[] = [];
  const planIds = new Set(catalog.plans.map((p) => p.id));
  const rules = catalog.changeRules ?? [];
  // As billing/catalog.ts offersYearly (not imported: that module imports this one).
  const sellsYearly = catalog.yearlyDiscountPercent !== undefined || catalog.plans.some((p) => p.price.yearly !== undefined);
  rules.forEach((rule, i) => {
    const where = `changeRules[${i}]`;
    for (const side of ['fromPlan', 'toPlan'] as const) {
      const wanted = rule.when[side];
      for (const planId of wanted === undefined ? [] : typeof wanted === 'string' ? [wanted] : wanted) {
        if (!planIds.has(planId)) problems.push(`${where}.when.${side}: unknown plan "${planId}"`);
      }
    }
    if (rule.apply === 'refused' && rule.reason === undefined) problems.push(`${where}.reason: a rule that refuses a change needs a reason to show the customer`);
    if (rule.apply !== 'refused' && rule.reason !== undefined) problems.push(`${where}.reason: only a rule that refuses a change has a reason (this one applies it ${rule.apply === 'immediate' ? 'at once' : 'at the period end'})`);
    const namesYearly = rule.when.fromInterval === 'yearly' || rule.when.toInterval === 'yearly';
    if (namesYearly && !sellsYearly) problems.push(`${where}.when: names the yearly interval, but no plan of this catalog is sold yearly (give a yearly price or yearlyDiscountPercent)`);
    const catchAll = rules.findIndex((earlier, j) => j < i && matchesEverything(earlier.when));
    if (catchAll >= 0) problems.push(`${where}: never applies: changeRules[${catchAll}] before it matches every change (the first rule that matches decides)`);
  });
  return problems;
}
