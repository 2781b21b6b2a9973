/**
 * The API's change preview and the workflow's change agree (properties over random catalogs).
 *
 * The preview (api/routes/planChangeRoutes.ts, `preview`) decides with `evaluatePlanChange` on the
 * subscription's snapshot and prices with `planChangeInvoice` + `applyCredit`; the change itself is
 * `SubscriptionEntity.validateChange` / `applyChange`. For any catalog (random plans, seats,
 * prices and change rules, always valid by `parseCatalog`), subscription state, request, usage and
 * instant, both must answer the same: the same refusal, or the same kind, timing, rule, next plan,
 * proration and charge. A request naming the catalog version it was previewed under behaves as one
 * without it unless the version is another; withdrawing a period-end downgrade gives it back.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ApplicationFailure } from '@temporalio/common';
import { offersYearly, parseCatalog, requirePlan, type Catalog, type Interval } from '../../billing/catalog.js';
import { catalogVersionOf } from '../../billing/catalogVersion.js';
import { applyCredit, planChangeInvoice } from '../../billing/invoiceDraft.js';
import { formatMinor } from '../../billing/money.js';
import { cycleMs, cyclesPerPeriod } from '../../billing/period.js';
import { evaluatePlanChange, planChangeStateOf, type PlanChangeDecision } from '../../billing/planChange.js';
import { SubscriptionEntity } from '../../workflows/subscriptionEntity.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { ChangePlanRequest, SubscriptionSnapshot } from '../../workflows/messages.js';

const T0 = Date.UTC(2026, 11, 1);
const RUNS = { numRuns: 250, seed: 20261202 };

const PLAN_IDS = ['free', 'basic', 'team', 'pro', 'scale'] as const;
const METRIC_IDS = ['calls', 'storage'] as const;
const INTERVALS = ['monthly', 'yearly'] as const;
const DIRECTIONS = ['up', 'down', 'same'] as const;

// --- random catalogs --------------------------------------------------------------------------

interface PlanSpec {
  monthlyMinor: number;
  yearlyMinor: number | undefined;
  seats: { included: number; min: number; maxExtra: number | undefined; monthlyMinor: number; yearlyMinor: number | undefined } | undefined;
  limits: number[];
}

const planSpecArb: fc.Arbitrary<PlanSpec> = fc.record({
  monthlyMinor: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50_000 })),
  yearlyMinor: fc.option(fc.integer({ min: 0, max: 500_000 }), { nil: undefined }),
  seats: fc.option(
    fc.record({
      included: fc.integer({ min: 0, max: 5 }),
      min: fc.integer({ min: 1, max: 3 }),
      maxExtra: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
      monthlyMinor: fc.integer({ min: 0, max: 2_000 }),
      yearlyMinor: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
    }),
    { nil: undefined, freq: 2 },
  ),
  limits: fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: METRIC_IDS.length, maxLength: METRIC_IDS.length }),
});

type RawRule = { when: Record<string, unknown>; apply: 'immediate' | 'period_end' | 'refused'; reason?: string };

function ruleArb(ids: readonly string[]): fc.Arbitrary<RawRule> {
  const planRef = fc.oneof(fc.constantFrom(...ids), fc.uniqueArray(fc.constantFrom(...ids), { minLength: 1, maxLength: ids.length }));
  const conditions: Record<string, fc.Arbitrary<unknown>> = {
    fromPlan: planRef,
    toPlan: planRef,
    tier: fc.constantFrom(...DIRECTIONS),
    fromInterval: fc.constantFrom(...INTERVALS),
    toInterval: fc.constantFrom(...INTERVALS),
    seats: fc.constantFrom(...DIRECTIONS),
  };
  // One to three conditions (more would rarely match anything), or none: a catch-all.
  const when = fc.oneof(
    { arbitrary: fc.constant({}), weight: 1 },
    { arbitrary: fc.subarray(Object.keys(conditions), { minLength: 1, maxLength: 3 }).chain((keys) => fc.record(Object.fromEntries(keys.map((k) => [k, conditions[k]!])))), weight: 8 },
  );
  return fc.tuple(when, fc.constantFrom('immediate' as const, 'period_end' as const, 'refused' as const)).map(([w, apply]) => ({ when: w as Record<string, unknown>, apply }));
}

const isCatchAll = (rule: RawRule) => Object.keys(rule.when).length === 0;

/** Whether `discount`% off 12 months of `monthlyMinor` is a whole minor unit (else the catalog must give the yearly price). */
const derivesExactly = (monthlyMinor: number, discount: number) => (monthlyMinor * 12 * (100 - discount)) % 100 === 0;

/** A random raw catalog, built so that `parseCatalog` accepts it. */
const rawCatalogArb: fc.Arbitrary<Record<string, unknown>> = fc.integer({ min: 2, max: 5 }).chain((n) => {
  const ids = PLAN_IDS.slice(0, n);
  return fc.record({
    currency: fc.constantFrom('USD', 'EUR', 'JPY'),
    cycleDays: fc.constantFrom(30, 28, 7),
    yearlyDiscountPercent: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
    downgradeTiming: fc.option(fc.constantFrom('immediate' as const, 'period_end' as const), { nil: undefined }),
    downgradesPerCycle: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    downgradeAllowanceFactor: fc.constantFrom('1.1', '1', '2.5'),
    metricCount: fc.integer({ min: 1, max: METRIC_IDS.length }),
    tiers: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }),
    plans: fc.array(planSpecArb, { minLength: n, maxLength: n }),
    rules: fc.option(fc.array(ruleArb(ids), { maxLength: 6 }), { nil: undefined, freq: 6 }),
    reasons: fc.constantFrom('Not allowed here.', 'Write to sales@example.com.'),
  }).map((g) => {
    const discount = g.yearlyDiscountPercent;
    const metrics = METRIC_IDS.slice(0, g.metricCount);
    const money = (minor: number) => formatMinor(BigInt(minor), g.currency);
    const plans = g.plans.map((spec, i) => {
      // An explicit yearly price when none is given and the discount would not derive a whole minor unit.
      const yearly = spec.yearlyMinor ?? (discount !== undefined && !derivesExactly(spec.monthlyMinor, discount) ? spec.monthlyMinor * 10 : undefined);
      const soldYearly = yearly !== undefined || discount !== undefined;
      const plan: Record<string, unknown> = {
        id: ids[i],
        name: ids[i]!.toUpperCase(),
        tier: g.tiers[i],
        price: { monthly: money(spec.monthlyMinor), ...(yearly !== undefined ? { yearly: money(yearly) } : {}) },
        limits: Object.fromEntries(metrics.map((m, k) => [m, { included: spec.limits[k], overLimit: { policy: 'reject' } }])),
      };
      if (spec.seats) {
        const s = spec.seats;
        const needsYearly = soldYearly && (discount === undefined || !derivesExactly(s.monthlyMinor, discount));
        const seatYearly = s.yearlyMinor ?? (needsYearly ? s.monthlyMinor * 10 : undefined);
        plan.seats = {
          included: s.included,
          min: s.min,
          ...(s.maxExtra !== undefined ? { max: Math.max(s.min, s.included) + s.maxExtra } : {}),
          price: { monthly: money(s.monthlyMinor), ...(seatYearly !== undefined ? { yearly: money(seatYearly) } : {}) },
        };
      }
      return plan;
    });
    // Rules after a catch-all would never apply (a catalog error): stop at the first one.
    // Rules naming the yearly interval in a catalog that sells nothing yearly are refused too: drop the interval.
    const sellsYearly = discount !== undefined || plans.some((p) => (p.price as { yearly?: string }).yearly !== undefined);
    const fitting = (rule: RawRule): RawRule => {
      if (sellsYearly) return rule;
      const { fromInterval: _from, toInterval: _to, ...when } = rule.when ?? {};
      return { ...rule, when };
    };
    let rules: RawRule[] | undefined;
    if (g.rules !== undefined) {
      const candidates = g.rules.map(fitting);
      const firstCatchAll = candidates.findIndex(isCatchAll);
      rules = (firstCatchAll >= 0 ? candidates.slice(0, firstCatchAll + 1) : candidates)
        .map((rule, i) => (rule.apply === 'refused' ? { ...rule, reason: `${g.reasons} (rule ${i})` } : rule));
    }
    return {
      currency: g.currency,
      cycleDays: g.cycleDays,
      ...(discount !== undefined ? { yearlyDiscountPercent: discount } : {}),
      ...(g.downgradeTiming !== undefined ? { downgradeTiming: g.downgradeTiming } : {}),
      ...(g.downgradesPerCycle !== undefined ? { downgradesPerCycle: g.downgradesPerCycle } : {}),
      downgradeAllowanceFactor: g.downgradeAllowanceFactor,
      ...(rules !== undefined ? { changeRules: rules } : {}),
      fallbackPlan: ids[0],
      metrics: metrics.map((id) => ({ id, name: id, unit: 'unit' })),
      plans,
    };
  });
});

/** Random catalogs, always through `parseCatalog` (a generator that made an invalid one fails the test). */
const catalogArb: fc.Arbitrary<Catalog> = rawCatalogArb.map((raw) => parseCatalog(raw, 'generated catalog'));

// --- random subscriptions, requests and instants ----------------------------------------------

interface RequestSpec {
  /** An index into the plans (modulo their number), or a plan that does not exist. */
  plan: number | 'gold' | undefined;
  interval: Interval | undefined;
  /** Seats as a change of the current count (1 on a plan without seats), or any count (often not valid). */
  seats: { delta: number } | { exactly: number } | undefined;
}

const requestArb: fc.Arbitrary<RequestSpec> = fc.record({
  plan: fc.option(fc.oneof({ arbitrary: fc.nat(), weight: 10 }, { arbitrary: fc.constant('gold' as const), weight: 1 }), { nil: undefined, freq: 4 }),
  interval: fc.option(fc.constantFrom(...INTERVALS), { nil: undefined }),
  seats: fc.option(
    fc.oneof(
      { arbitrary: fc.integer({ min: -3, max: 3 }).map((delta) => ({ delta })), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 25 }).map((exactly) => ({ exactly })), weight: 1 },
    ),
    { nil: undefined },
  ),
});

interface Scenario {
  plan: number;
  yearly: boolean;
  seatsPick: number;
  /** Where in its billing period the subscription is when it is created (millionths). */
  periodOffset: number;
  downgradesThisCycle: number;
  creditOwedMinor: number;
  /** A change applied first (it may schedule one), at t1: any, or a downgrade or a seat removal (likelier to be scheduled). */
  first: RequestSpec | 'downgrade' | 'fewer_seats' | undefined;
  cancel: boolean;
  /** t1 and t2 as millionths of what is left of the cycle. */
  at1: number;
  at2: number;
  usage: number[];
  /** `current`: the plan, interval and seats the subscription has (withdraws a scheduled change). */
  request: RequestSpec | 'current';
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  plan: fc.nat(),
  yearly: fc.boolean(),
  seatsPick: fc.nat(),
  periodOffset: fc.integer({ min: 0, max: 999_999 }),
  downgradesThisCycle: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 2 }),
  creditOwedMinor: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100_000 })),
  first: fc.option(fc.oneof(requestArb, fc.constantFrom('downgrade' as const, 'fewer_seats' as const)), { nil: undefined, freq: 3 }),
  cancel: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  at1: fc.integer({ min: 0, max: 1_000_000 }),
  at2: fc.integer({ min: 0, max: 1_000_000 }),
  usage: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200_000 })), { minLength: METRIC_IDS.length, maxLength: METRIC_IDS.length }),
  request: fc.oneof({ arbitrary: requestArb, weight: 4 }, { arbitrary: fc.constant('current' as const), weight: 1 }),
});

function toRequest(catalog: Catalog, spec: RequestSpec, current: { planId: string; seats: number }): { planId?: string; interval?: Interval; seats?: number } {
  const planId = spec.plan === undefined || spec.plan === 'gold' ? spec.plan : catalog.plans[spec.plan % catalog.plans.length]!.id;
  const target = catalog.plans.find((p) => p.id === (planId ?? current.planId));
  const seats = spec.seats === undefined ? undefined
    : 'exactly' in spec.seats ? spec.seats.exactly
    : target?.seats ? current.seats + spec.seats.delta : 1;
  return {
    ...(planId !== undefined ? { planId } : {}),
    ...(spec.interval !== undefined ? { interval: spec.interval } : {}),
    ...(seats !== undefined ? { seats } : {}),
  };
}

function requestOf(catalog: Catalog, entity: SubscriptionEntity, spec: RequestSpec | 'current'): { planId?: string; interval?: Interval; seats?: number } {
  const { planId, interval, seats } = entity.snapshot();
  if (spec !== 'current') return toRequest(catalog, spec, { planId, seats });
  return { planId, interval, seats };
}

function usageOf(catalog: Catalog, usage: number[]): Record<string, string> {
  return Object.fromEntries(catalog.metrics.map((m, i) => [m.id, String(usage[i] ?? 0)]));
}

/** A change request measured in the subscription's current cycle (as the API sends it). */
function change(s: SubscriptionEntity, request: { planId?: string; interval?: Interval; seats?: number; catalogVersion?: string }, usage: Record<string, string> = {}): ChangePlanRequest {
  return { ...request, usage, usageCycleStart: s.snapshot().cycleStart };
}

type Outcome<T> = { refused: false; value: T } | { refused: true; type: string | null | undefined; message: string; details: unknown[] | null | undefined };

function outcomeOf<T>(action: () => T): Outcome<T> {
  try {
    return { refused: false, value: action() };
  } catch (error) {
    if (!(error instanceof ApplicationFailure)) throw error;
    return { refused: true, type: error.type, message: error.message, details: error.details };
  }
}

/**
 * The subscription of a scenario (as the `entity(...)` helper of subscriptionEntity.test.ts builds
 * one, with downgrades made and credit owed in this cycle), after its first change and
 * cancellation when it has them; and the instant of the change under test (t2), inside the cycle.
 */
function build(catalog: Catalog, sc: Scenario, changeRules: boolean): { entity: SubscriptionEntity; t1: number; t2: number } {
  const plan = catalog.plans[sc.plan % catalog.plans.length]!;
  const interval: Interval = sc.yearly && offersYearly(catalog, plan) ? 'yearly' : 'monthly';
  const seats = plan.seats ? plan.seats.min + (sc.seatsPick % ((plan.seats.max ?? plan.seats.min + 20) - plan.seats.min + 1)) : 1;
  const periodLength = cycleMs(catalog.cycleDays) * cyclesPerPeriod(interval);
  const input = newSubscriptionInput({
    catalog,
    customerId: 'cust_1',
    planId: plan.id,
    interval,
    seats,
    importedPeriodStart: T0 - Math.floor((sc.periodOffset / 1_000_000) * periodLength),
    now: T0,
  });
  input.downgradesThisCycle = sc.downgradesThisCycle;
  input.creditOwedMinor = String(sc.creditOwedMinor);
  const entity = new SubscriptionEntity(input, { changeRules });
  const cycleEnd = entity.snapshot().cycleEnd;
  const t1 = T0 + Math.floor((sc.at1 / 1_000_000) * (cycleEnd - 1 - T0));
  const t2 = t1 + Math.floor((sc.at2 / 1_000_000) * (cycleEnd - 1 - t1));
  const usage = usageOf(catalog, sc.usage);
  if (sc.first) {
    const lower = catalog.plans.filter((p) => p.tier < plan.tier);
    const first = sc.first === 'downgrade' ? { planId: lower[sc.seatsPick % Math.max(1, lower.length)]?.id ?? plan.id }
      : sc.first === 'fewer_seats' ? { seats: seats - 1 }
      : toRequest(catalog, sc.first, { planId: plan.id, seats });
    outcomeOf(() => entity.applyChange(change(entity, first, usage), t1));
  }
  if (sc.cancel) outcomeOf(() => entity.cancel());
  return { entity, t1, t2 };
}

/** What the API's preview answers, computed exactly as `preview()` in api/routes/planChangeRoutes.ts does. */
function preview(catalog: Catalog, snap: SubscriptionSnapshot, request: { planId?: string; interval?: Interval; seats?: number }, usage: Record<string, string>, now: number): {
  decision: PlanChangeDecision;
  chargedMinor: bigint;
  creditAppliedMinor: bigint;
} {
  const decision = evaluatePlanChange({
    catalog,
    state: planChangeStateOf(snap),
    request: { planId: request.planId, interval: request.interval, seats: request.seats },
    usage: new Map(Object.entries(usage).map(([metric, used]) => [metric, BigInt(used)])),
    now,
  });
  if (!decision.allowed) return { decision, chargedMinor: 0n, creditAppliedMinor: 0n };
  const invoice = planChangeInvoice({ customerId: snap.customerId, currency: catalog.currency, lines: decision.proration.lines, changeVersion: 0, now, periodEnd: snap.periodEnd });
  const owed = BigInt(snap.creditOwedMinor);
  const credited = invoice ? applyCredit(invoice, owed) : undefined;
  return {
    decision,
    chargedMinor: credited ? BigInt(credited.draft.totalMinor) : 0n,
    creditAppliedMinor: credited ? owed - credited.remainingMinor : 0n,
  };
}

/** Everything a change attempt did: its refusal, or its answer and the state after it. */
function attempt(entity: SubscriptionEntity, request: ChangePlanRequest, now: number): { outcome: Outcome<ReturnType<SubscriptionEntity['applyChange']>>; snapshot: SubscriptionSnapshot } {
  const outcome = outcomeOf(() => entity.applyChange(request, now));
  return { outcome, snapshot: entity.snapshot() };
}

// --- the properties ---------------------------------------------------------------------------

describe('the generators', () => {
  it('make valid catalogs with 2–5 plans of distinct tiers, seats on some, and rules on most', () => {
    const catalogs = fc.sample(catalogArb, { numRuns: 300, seed: RUNS.seed });
    for (const c of catalogs) {
      expect(c.plans.length).toBeGreaterThanOrEqual(2);
      expect(c.plans.length).toBeLessThanOrEqual(5);
      expect(new Set(c.plans.map((p) => p.tier)).size).toBe(c.plans.length);
      expect((c.changeRules ?? []).length).toBeLessThanOrEqual(6);
    }
    // the mix is varied: seats, yearly prices, rules of each kind, period-end downgrades
    expect(catalogs.some((c) => c.plans.some((p) => p.seats))).toBe(true);
    expect(catalogs.some((c) => c.yearlyDiscountPercent !== undefined)).toBe(true);
    expect(catalogs.some((c) => c.changeRules === undefined)).toBe(true);
    for (const apply of ['immediate', 'period_end', 'refused'] as const) expect(catalogs.some((c) => c.changeRules?.some((r) => r.apply === apply))).toBe(true);
    expect(catalogs.some((c) => c.changeRules?.some((r) => Object.keys(r.when).length === 0))).toBe(true);
    expect(catalogs.some((c) => c.downgradeTiming === 'period_end')).toBe(true);
  });
});

describe('the preview and the change agree (property)', () => {
  it('refused by one ⇔ refused by the other with the same code; else the same kind, timing, rule, next, proration and charge', () => {
    const seen = { refused: new Set<string>(), kinds: new Set<string>(), periodEnd: 0, charged: 0, creditUsed: 0 };
    fc.assert(
      fc.property(catalogArb, scenarioArb, fc.boolean(), (catalog, sc, changeRules) => {
        const { entity, t2 } = build(catalog, sc, changeRules);
        const snap = entity.snapshot();
        const request = requestOf(catalog, entity, sc.request);
        const usage = usageOf(catalog, sc.usage);
        const expected = preview(catalog, snap, request, usage, t2);

        const validated = outcomeOf(() => entity.validateChange(change(entity, request, usage), t2));
        expect(entity.snapshot()).toEqual(snap); // the validator changes nothing
        const applied = outcomeOf(() => entity.applyChange(change(entity, request, usage), t2));

        if (!expected.decision.allowed) {
          const { code, message, details } = expected.decision;
          seen.refused.add(code);
          const refusal = { refused: true, type: code, message, details: details ? [details] : undefined };
          expect(validated).toEqual(refusal);
          expect(applied).toEqual(refusal);
          expect(entity.snapshot()).toEqual(snap);
          return;
        }
        const d = expected.decision;
        seen.kinds.add(d.kind);
        expect(validated).toEqual({ refused: false, value: undefined });
        if (applied.refused) throw new Error(`the preview allows ${JSON.stringify(request)} but the change is refused: ${applied.type}: ${applied.message}`);
        const { decision, invoice, creditAppliedMinor } = applied.value;
        expect({ kind: decision.kind, effective: decision.effective, rule: decision.rule, next: decision.next, netMinor: decision.proration.netMinor })
          .toEqual({ kind: d.kind, effective: d.effective, rule: d.rule, next: d.next, netMinor: d.proration.netMinor });
        expect(decision.proration).toEqual(d.proration);
        // what the preview says the card pays is what the change invoices, and the same credit is used
        expect(invoice ? BigInt(invoice.totalMinor) : 0n).toBe(expected.chargedMinor);
        expect(creditAppliedMinor).toBe(expected.creditAppliedMinor);
        // and what it says is credited is owed afterwards
        const net = d.proration.netMinor;
        const credited = d.effective === 'immediate' && net < 0n ? -net : 0n;
        expect(BigInt(entity.snapshot().creditOwedMinor)).toBe(BigInt(snap.creditOwedMinor) + credited - expected.creditAppliedMinor);
        if (d.effective === 'period_end') seen.periodEnd += 1;
        if (expected.chargedMinor > 0n) seen.charged += 1;
        if (expected.creditAppliedMinor > 0n) seen.creditUsed += 1;
      }),
      // more runs than the others: about a third of random requests are allowed
      { ...RUNS, numRuns: 500 },
    );
    // the runs reached the interesting cases
    expect([...seen.refused]).toEqual(expect.arrayContaining(['unknown_plan', 'invalid_seats', 'no_change', 'change_not_allowed', 'downgrade_limit_reached', 'cancellation_scheduled']));
    expect([...seen.kinds]).toEqual(expect.arrayContaining(['upgrade', 'downgrade', 'interval_change', 'seats_added', 'seats_removed', 'scheduled_change_cancelled']));
    expect(seen.periodEnd).toBeGreaterThan(0);
    expect(seen.charged).toBeGreaterThan(0);
    expect(seen.creditUsed).toBeGreaterThan(0);
  });
});

describe('catalog versions on a change (property)', () => {
  it('the subscription\'s own version changes nothing; another one is refused catalog_changed, except in runs from before the patch', () => {
    let refusedAnyway = 0;
    fc.assert(
      fc.property(catalogArb, catalogArb, scenarioArb, (catalog, other, sc) => {
        const own = catalogVersionOf(catalog);
        const stale = catalogVersionOf(other);
        fc.pre(stale !== own);
        const usage = usageOf(catalog, sc.usage);
        for (const changeRules of [true, false]) {
          const plain = build(catalog, sc, changeRules);
          const request = requestOf(catalog, plain.entity, sc.request);
          const withOwn = build(catalog, sc, changeRules);
          const withStale = build(catalog, sc, changeRules);
          const t = plain.t2;
          const expected = attempt(plain.entity, change(plain.entity, request, usage), t);
          expect(outcomeOf(() => withOwn.entity.validateChange(change(withOwn.entity, { ...request, catalogVersion: own }, usage), t)).refused)
            .toBe(expected.outcome.refused);
          expect(attempt(withOwn.entity, change(withOwn.entity, { ...request, catalogVersion: own }, usage), t)).toEqual(expected);

          const staleRequest = change(withStale.entity, { ...request, catalogVersion: stale }, usage);
          if (changeRules) {
            const before = withStale.entity.snapshot();
            const refusal = { refused: true, type: 'catalog_changed', message: expect.stringContaining(stale), details: [{ previewedVersion: stale, catalogVersion: own }] };
            expect(outcomeOf(() => withStale.entity.validateChange(staleRequest, t))).toEqual(refusal);
            expect(outcomeOf(() => withStale.entity.applyChange(staleRequest, t))).toEqual(refusal);
            expect(withStale.entity.snapshot()).toEqual(before);
            if (expected.outcome.refused) refusedAnyway += 1;
          } else {
            expect(attempt(withStale.entity, staleRequest, t)).toEqual(expected);
          }
        }
      }),
      RUNS,
    );
    // catalog_changed comes first, even for a change that would have been refused for something else
    expect(refusedAnyway).toBeGreaterThan(0);
  });
});

describe('withdrawing a period-end downgrade (property)', () => {
  const withdrawalArb = fc.record({
    catalog: rawCatalogArb.map((raw) => parseCatalog({ ...raw, downgradesPerCycle: (raw.downgradesPerCycle as number | undefined) || 1, downgradeTiming: 'period_end' })),
    sc: scenarioArb,
    target: fc.nat(),
  });

  it('gives the cycle\'s downgrade back (changeRules: true), so another is possible; runs from before the patch keep it counted', () => {
    let withdrawn = 0;
    fc.assert(
      fc.property(withdrawalArb, ({ catalog, sc, target }) => {
        const byTier = [...catalog.plans].sort((a, b) => a.tier - b.tier);
        const outcomes = [true, false].map((changeRules) => {
          const { entity, t1, t2 } = build(catalog, { ...sc, first: undefined, cancel: false, downgradesThisCycle: sc.downgradesThisCycle % catalog.downgradesPerCycle }, changeRules);
          const snap = entity.snapshot();
          const current = requirePlan(catalog, snap.planId);
          const lower = byTier.filter((p) => p.tier < current.tier);
          fc.pre(lower.length > 0);
          const downgrade = { ...(sc.request === 'current' ? {} : toRequest(catalog, sc.request, snap)), planId: lower[target % lower.length]!.id };
          const usage = usageOf(catalog, sc.usage);
          const first = outcomeOf(() => entity.applyChange(change(entity, downgrade, usage), t1));
          fc.pre(!first.refused && first.value.decision.kind === 'downgrade' && first.value.decision.effective === 'period_end');
          expect(entity.snapshot().downgradesThisCycle).toBe(snap.downgradesThisCycle + 1);
          expect(entity.snapshot().pendingPlanId).toBe(downgrade.planId);

          const back = entity.applyChange(change(entity, { planId: snap.planId, interval: snap.interval, seats: snap.seats }, usage), t2);
          expect(back.decision.kind).toBe('scheduled_change_cancelled');
          expect(back.invoice).toBeUndefined();
          const after = entity.snapshot();
          expect(after).toMatchObject({ planId: snap.planId, interval: snap.interval, seats: snap.seats, pendingPlanId: null, pendingSeats: null, pendingInterval: null, creditOwedMinor: snap.creditOwedMinor });
          const again = outcomeOf(() => entity.applyChange(change(entity, downgrade, usage), t2));
          return { before: snap.downgradesThisCycle, after: after.downgradesThisCycle, again };
        });
        const [patched, unpatched] = outcomes as [(typeof outcomes)[number], (typeof outcomes)[number]];
        withdrawn += 1;
        expect(patched.after).toBe(patched.before);
        // the same downgrade can be made again, and it is counted again
        expect(patched.again).toMatchObject({ refused: false, value: { decision: { kind: 'downgrade', effective: 'period_end' } } });
        // before the patch the withdrawn downgrade still counts
        expect(unpatched.after).toBe(unpatched.before + 1);
        if (unpatched.after >= catalog.downgradesPerCycle) expect(unpatched.again).toMatchObject({ refused: true, type: 'downgrade_limit_reached' });
      }),
      RUNS,
    );
    expect(withdrawn).toBeGreaterThanOrEqual(RUNS.numRuns);
  });
});
