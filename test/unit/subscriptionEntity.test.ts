import { catalogVersionOf } from '../../billing/catalogVersion.js';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { defaultSeats, requirePlan, type Catalog, type Interval } from '../../billing/catalog.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { SubscriptionEntity } from '../../workflows/subscriptionEntity.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { ChangePlanRequest, SubscriptionInput, ThresholdCrossing } from '../../workflows/messages.js';

const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const catalog = loadCatalog(path.join(configDir, 'catalog.json'));
const seatsCatalog = loadCatalog(path.join(configDir, 'examples/seats-eur.json'));

const T0 = Date.UTC(2025, 0, 1); // 2025-01-01T00:00:00.000Z
const CYCLE = 30 * DAY_MS;
const YEAR = 12 * CYCLE;
const iso = (ms: number) => new Date(ms).toISOString();

/** What renew() reports about the cycle it closed: its span, the plan in force and the catalog's metrics. */
function closedCycle(c: Catalog, planId: string, start: number) {
  return { start, end: start + CYCLE, plan: requirePlan(c, planId), metrics: c.metrics };
}

/** A plan change request measured in the subscription's current cycle (no usage unless given). */
function change(s: SubscriptionEntity, request: Omit<ChangePlanRequest, 'usage' | 'usageCycleStart'> & { usage?: Record<string, string> }): ChangePlanRequest {
  return { usage: {}, ...request, usageCycleStart: s.snapshot().cycleStart };
}

function input(args: { planId: string; interval?: Interval; seats?: number; importedPeriodStart?: number; now?: number; catalog?: Catalog }): SubscriptionInput {
  return newSubscriptionInput({
    catalog: args.catalog ?? catalog,
    customerId: 'cust_1',
    planId: args.planId,
    interval: args.interval ?? 'monthly',
    seats: args.seats ?? 1,
    importedPeriodStart: args.importedPeriodStart,
    now: args.now ?? T0,
  });
}

function entity(args: Parameters<typeof input>[0]): SubscriptionEntity {
  return new SubscriptionEntity(input(args));
}

/** The refusal code an action throws (an ApplicationFailure whose `type` is the code). */
function refusalOf(action: () => void): { type: string | undefined | null; message: string; nonRetryable: boolean | undefined | null; details: unknown[] | undefined | null } {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ApplicationFailure);
    const failure = error as ApplicationFailure;
    return { type: failure.type, message: failure.message, nonRetryable: failure.nonRetryable, details: failure.details };
  }
  throw new Error('expected a refusal, but nothing was thrown');
}

describe('newSubscriptionInput', () => {
  it('a new monthly Pro subscription starts now and invoices its first period', () => {
    expect(input({ planId: 'pro' })).toEqual({
      customerId: 'cust_1',
      catalog,
      planId: 'pro',
      interval: 'monthly',
      seats: 1,
      periodStart: T0,
      periodEnd: T0 + CYCLE,
      cycleStart: T0,
      cycleEnd: T0 + CYCLE,
      cancelAtPeriodEnd: false,
      creditOwedMinor: '0',
      version: 1,
      cycleNumber: 0,
      invoiceFirstPeriod: true,
      newSubscription: true,
    });
  });

  it('an imported yearly subscription keeps its period under way and is not invoiced again', () => {
    const start = T0 - 100 * DAY_MS;
    const i = input({ planId: 'pro', interval: 'yearly', importedPeriodStart: start });
    expect(i.periodStart).toBe(start);
    expect(i.periodEnd).toBe(start + YEAR);
    expect(i.cycleStart).toBe(start + 90 * DAY_MS);
    expect(i.cycleEnd).toBe(start + 120 * DAY_MS);
    expect(i.invoiceFirstPeriod).toBe(false);
  });

  it('refuses an unknown plan', () => {
    expect(() => input({ planId: 'platinum' })).toThrow('unknown plan platinum');
  });
});

describe('SubscriptionEntity: state', () => {
  it('snapshot reflects the input, with status and currency', () => {
    expect(entity({ planId: 'basic' }).snapshot()).toEqual({
      customerId: 'cust_1',
      planId: 'basic',
      interval: 'monthly',
      seats: 1,
      status: 'active',
      currency: 'USD',
      periodStart: T0,
      periodEnd: T0 + CYCLE,
      cycleStart: T0,
      cycleEnd: T0 + CYCLE,
      cancelAtPeriodEnd: false,
      creditOwedMinor: '0',
      version: 1,
      cycleNumber: 0,
      downgradesThisCycle: 0,
      pendingPlanId: null,
      pendingSeats: null,
      pendingInterval: null,
      payment: null,
      catalogVersion: catalogVersionOf(catalog),
    });
  });

  it('getters', () => {
    const s = entity({ planId: 'pro', interval: 'yearly' });
    expect(s.customerId).toBe('cust_1');
    expect(s.snapshot().planId).toBe('pro');
    expect(s.currentCycleEnd).toBe(T0 + CYCLE);
    expect(s.snapshot().periodEnd).toBe(T0 + YEAR);
    expect(s.status).toBe('active');
  });

  it('firstPeriodInvoice bills the first period of a paid plan', () => {
    expect(entity({ planId: 'pro' }).firstPeriodInvoice()).toEqual({
      customerId: 'cust_1',
      reason: 'subscription_create',
      currency: 'USD',
      periodStart: T0,
      periodEnd: T0 + CYCLE,
      lines: [
        { kind: 'plan', description: 'Pro plan (monthly)', quantity: '1', unitPrice: '30.00', amountMinor: '3000', periodStart: T0, periodEnd: T0 + CYCLE },
      ],
      totalMinor: '3000',
      idempotencyKey: 'invoice:cust_1:subscription_create:2025-01-01T00:00:00.000Z',
    });
    expect(entity({ planId: 'pro', interval: 'yearly' }).firstPeriodInvoice()?.totalMinor).toBe('28800');
    expect(entity({ planId: 'free' }).firstPeriodInvoice()).toBeUndefined();
  });

  it('firstPeriodInvoice includes extra seats', () => {
    const invoice = entity({ catalog: seatsCatalog, planId: 'team', seats: 5 }).firstPeriodInvoice();
    expect(invoice?.lines.map((l) => [l.kind, l.quantity, l.amountMinor])).toEqual([
      ['plan', '1', '2900'],
      ['seats', '2', '1600'],
    ]);
    expect(invoice?.currency).toBe('EUR');
  });
});

describe('SubscriptionEntity: cancel and reactivate', () => {
  it('cancel schedules a cancellation and bumps the version', () => {
    const s = entity({ planId: 'pro' });
    s.cancel();
    expect(s.status).toBe('cancel_scheduled');
    expect(s.snapshot()).toMatchObject({ status: 'cancel_scheduled', cancelAtPeriodEnd: true, version: 2, planId: 'pro' });
  });

  it('cancelling twice is refused with cancellation_already_scheduled, leaving state unchanged', () => {
    const s = entity({ planId: 'pro' });
    s.cancel();
    const before = s.snapshot();
    const failure = refusalOf(() => s.cancel());
    expect(failure.type).toBe('cancellation_already_scheduled');
    expect(failure.message).toBe('A cancellation is already scheduled for 2025-01-31T00:00:00.000Z.');
    expect(failure.nonRetryable).toBe(true);
    expect(refusalOf(() => s.validateCancel()).type).toBe('cancellation_already_scheduled');
    expect(s.snapshot()).toEqual(before);
  });

  it('cancelling on the fallback (Free) plan is refused with nothing_to_cancel', () => {
    const s = entity({ planId: 'free' });
    const failure = refusalOf(() => s.cancel());
    expect(failure.type).toBe('nothing_to_cancel');
    expect(failure.message).toBe('The subscription is on the Free plan already; there is nothing to cancel.');
    expect(refusalOf(() => s.validateCancel()).type).toBe('nothing_to_cancel');
    expect(s.snapshot()).toMatchObject({ version: 1, cancelAtPeriodEnd: false, status: 'active' });
  });

  it('reactivate without a scheduled cancellation is refused with no_cancellation_scheduled', () => {
    const s = entity({ planId: 'pro' });
    const failure = refusalOf(() => s.reactivate());
    expect(failure.type).toBe('no_cancellation_scheduled');
    expect(failure.message).toBe('No cancellation is scheduled; there is nothing to reactivate.');
    expect(refusalOf(() => s.validateReactivate()).type).toBe('no_cancellation_scheduled');
    expect(s.snapshot().version).toBe(1);
  });

  it('reactivate undoes a scheduled cancellation; then cancel works again', () => {
    const s = entity({ planId: 'pro' });
    s.cancel();
    expect(() => s.validateReactivate()).not.toThrow();
    s.reactivate();
    expect(s.snapshot()).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, version: 3 });
    expect(refusalOf(() => s.reactivate()).type).toBe('no_cancellation_scheduled');
    s.cancel();
    expect(s.snapshot()).toMatchObject({ status: 'cancel_scheduled', version: 4 });
  });

  it('validators change nothing', () => {
    const s = entity({ planId: 'pro' });
    s.validateCancel();
    expect(s.snapshot().version).toBe(1);
    expect(s.status).toBe('active');
  });
});

describe('SubscriptionEntity: renewal', () => {
  it('monthly: renew() moves to the next cycle and period and drafts the next period\'s invoice', () => {
    const s = entity({ planId: 'pro' });
    const result = s.renew();
    expect(result).toEqual({
      newPeriod: true,
      invoice: {
        customerId: 'cust_1',
        reason: 'renewal',
        currency: 'USD',
        periodStart: T0 + CYCLE,
        periodEnd: T0 + 2 * CYCLE,
        lines: [
          {
            kind: 'plan',
            description: 'Pro plan (monthly)',
            quantity: '1',
            unitPrice: '30.00',
            amountMinor: '3000',
            periodStart: T0 + CYCLE,
            periodEnd: T0 + 2 * CYCLE,
          },
        ],
        totalMinor: '3000',
        idempotencyKey: 'invoice:cust_1:renewal:2025-01-31T00:00:00.000Z',
      },
      closedCycle: { start: T0, end: T0 + CYCLE, plan: requirePlan(catalog, 'pro'), metrics: catalog.metrics },
    });
    expect(s.snapshot()).toMatchObject({
      periodStart: T0 + CYCLE,
      periodEnd: T0 + 2 * CYCLE,
      cycleStart: T0 + CYCLE,
      cycleEnd: T0 + 2 * CYCLE,
      cycleNumber: 1,
      version: 2,
      planId: 'pro',
      status: 'active',
    });
  });

  it('monthly: three renewals are three consecutive invoices with distinct keys', () => {
    const s = entity({ planId: 'basic' });
    const invoices = [s.renew(), s.renew(), s.renew()].map((r) => r.invoice);
    expect(invoices.map((i) => [i?.periodStart, i?.periodEnd, i?.totalMinor])).toEqual([
      [T0 + CYCLE, T0 + 2 * CYCLE, '1000'],
      [T0 + 2 * CYCLE, T0 + 3 * CYCLE, '1000'],
      [T0 + 3 * CYCLE, T0 + 4 * CYCLE, '1000'],
    ]);
    expect(invoices.map((i) => i?.idempotencyKey)).toEqual([
      'invoice:cust_1:renewal:2025-01-31T00:00:00.000Z',
      'invoice:cust_1:renewal:2025-03-02T00:00:00.000Z',
      'invoice:cust_1:renewal:2025-04-01T00:00:00.000Z',
    ]);
    expect(s.snapshot()).toMatchObject({ cycleNumber: 3, version: 4 });
  });

  it('monthly Free renews into a new period with no invoice', () => {
    const s = entity({ planId: 'free' });
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined, closedCycle: closedCycle(catalog, 'free', T0) });
    expect(s.snapshot()).toMatchObject({ planId: 'free', periodStart: T0 + CYCLE, periodEnd: T0 + 2 * CYCLE, cycleNumber: 1, version: 2 });
  });

  it('yearly: 11 renewals only move the cycle; the 12th starts a new year and invoices it', () => {
    const s = entity({ planId: 'pro', interval: 'yearly' });
    for (let i = 1; i <= 11; i++) {
      expect(s.renew()).toEqual({ newPeriod: false, closedCycle: closedCycle(catalog, 'pro', T0 + (i - 1) * CYCLE) });
      expect(s.snapshot()).toMatchObject({
        periodStart: T0,
        periodEnd: T0 + YEAR,
        cycleStart: T0 + i * CYCLE,
        cycleEnd: T0 + (i + 1) * CYCLE,
        cycleNumber: i,
        version: 1 + i,
      });
    }
    const result = s.renew();
    expect(result.newPeriod).toBe(true);
    expect(result.closedCycle).toEqual(closedCycle(catalog, 'pro', T0 + 11 * CYCLE));
    expect(result.invoice?.periodStart).toBe(T0 + YEAR);
    expect(result.invoice?.periodEnd).toBe(T0 + 2 * YEAR);
    expect(result.invoice?.lines.map((l) => [l.description, l.amountMinor])).toEqual([['Pro plan (yearly)', '28800']]);
    expect(result.invoice?.idempotencyKey).toBe(`invoice:cust_1:renewal:${iso(T0 + YEAR)}`);
    expect(s.snapshot()).toMatchObject({
      periodStart: T0 + YEAR,
      periodEnd: T0 + 2 * YEAR,
      cycleStart: T0 + YEAR,
      cycleEnd: T0 + YEAR + CYCLE,
      cycleNumber: 12,
      version: 13,
      interval: 'yearly',
    });
  });

  it('yearly: over 36 cycles, exactly cycles 12, 24 and 36 start a new period (property of the loop)', () => {
    const s = entity({ planId: 'enterprise', interval: 'yearly' });
    const newPeriods: number[] = [];
    for (let i = 1; i <= 36; i++) if (s.renew().newPeriod) newPeriods.push(i);
    expect(newPeriods).toEqual([12, 24, 36]);
  });

  it('an imported yearly subscription renews its year at the original period end', () => {
    const start = T0 - 100 * DAY_MS; // 4th cycle under way; 8 renewals finish the year
    const s = entity({ planId: 'pro', interval: 'yearly', importedPeriodStart: start });
    const results = Array.from({ length: 9 }, () => s.renew());
    expect(results.map((r) => r.newPeriod)).toEqual([false, false, false, false, false, false, false, false, true]);
    expect(results[8]?.invoice?.periodStart).toBe(start + YEAR);
    expect(s.snapshot()).toMatchObject({ periodStart: start + YEAR, cycleStart: start + YEAR, cycleNumber: 9 });
  });

  it('renewal of a seat-based plan keeps its seats on the invoice', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    const invoice = s.renew().invoice;
    expect(invoice?.lines.map((l) => [l.kind, l.quantity, l.amountMinor])).toEqual([
      ['plan', '1', '9900'],
      ['seats', '2', '1400'],
    ]);
    expect(invoice?.totalMinor).toBe('11300');
  });
});

describe('SubscriptionEntity: cancellation at the period end', () => {
  it('monthly: the renewal switches to the fallback plan and Free has no invoice', () => {
    const s = entity({ planId: 'pro' });
    s.cancel();
    // The closed cycle was still on Pro: the fallback only starts with the new period.
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined, closedCycle: closedCycle(catalog, 'pro', T0) });
    expect(s.snapshot()).toMatchObject({
      planId: 'free',
      interval: 'monthly',
      seats: 1,
      status: 'active',
      cancelAtPeriodEnd: false,
      periodStart: T0 + CYCLE,
      periodEnd: T0 + 2 * CYCLE,
      version: 3,
      cycleNumber: 1,
    });
    expect(refusalOf(() => s.cancel()).type).toBe('nothing_to_cancel');
    expect(refusalOf(() => s.reactivate()).type).toBe('no_cancellation_scheduled');
  });

  it('yearly: the plan stays until the year ends, then becomes Free monthly', () => {
    const s = entity({ planId: 'enterprise', interval: 'yearly' });
    s.cancel();
    for (let i = 0; i < 11; i++) {
      expect(s.renew().newPeriod).toBe(false);
      expect(s.snapshot()).toMatchObject({ planId: 'enterprise', status: 'cancel_scheduled' });
    }
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined, closedCycle: closedCycle(catalog, 'enterprise', T0 + 11 * CYCLE) });
    expect(s.snapshot()).toMatchObject({
      planId: 'free',
      interval: 'monthly',
      status: 'active',
      periodStart: T0 + YEAR,
      periodEnd: T0 + YEAR + CYCLE,
      cycleStart: T0 + YEAR,
      cycleEnd: T0 + YEAR + CYCLE,
    });
  });

  it('seat-based: falls back to Free with its default seat count', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'team', seats: 7 });
    s.cancel();
    expect(s.renew().invoice).toBeUndefined();
    expect(s.snapshot()).toMatchObject({ planId: 'free', seats: 1, currency: 'EUR' });
  });

  it('reactivated before the period end: the renewal keeps the plan and invoices it', () => {
    const s = entity({ planId: 'basic' });
    s.cancel();
    s.reactivate();
    const result = s.renew();
    expect(result.invoice?.totalMinor).toBe('1000');
    expect(s.snapshot()).toMatchObject({ planId: 'basic', status: 'active', version: 4 });
  });
});

describe('SubscriptionEntity: nextRunInput', () => {
  it('round trips: a new entity from nextRunInput has the same snapshot, and is never invoiced as a first period', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'team', seats: 5, interval: 'yearly' });
    s.renew();
    s.cancel();
    const next = s.nextRunInput(undefined);
    expect(next).toEqual({
      customerId: 'cust_1',
      catalog: seatsCatalog,
      planId: 'team',
      interval: 'yearly',
      seats: 5,
      periodStart: T0,
      periodEnd: T0 + YEAR,
      cycleStart: T0 + CYCLE,
      cycleEnd: T0 + 2 * CYCLE,
      cancelAtPeriodEnd: true,
      creditOwedMinor: '0',
      version: 3,
      cycleNumber: 1,
      invoiceFirstPeriod: false,
      alertsHandled: [],
      downgradesThisCycle: 0,
    });
    expect(next).not.toHaveProperty('pendingPlanId');
    expect(next).not.toHaveProperty('pendingSeats');
    expect(new SubscriptionEntity(next).snapshot()).toEqual(s.snapshot());
  });

  it('survives JSON (Temporal payloads) unchanged', () => {
    const s = entity({ planId: 'pro' });
    s.renew();
    const next = s.nextRunInput(undefined);
    expect(next.pendingSeats).toBeUndefined();
    const overTheWire = JSON.parse(JSON.stringify(next)) as SubscriptionInput;
    expect(overTheWire).toEqual(next);
    expect(new SubscriptionEntity(overTheWire).snapshot()).toEqual(s.snapshot());
  });

  it('takes a new catalog when given one', () => {
    const s = entity({ planId: 'pro' });
    const changed: Catalog = { ...catalog, plans: catalog.plans.map((p) => (p.id === 'pro' ? { ...p, price: { monthly: '35.00' } } : p)) };
    const next = s.nextRunInput(changed);
    expect(next.catalog).toBe(changed);
    expect(new SubscriptionEntity(next).renew().invoice?.totalMinor).toBe('3500');
  });

  it('a chain of runs equals one entity renewing throughout (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('free', 'basic', 'pro', 'enterprise'),
        fc.constantFrom('monthly' as const, 'yearly' as const),
        fc.array(fc.constantFrom('renew' as const, 'cancel' as const, 'reactivate' as const), { maxLength: 30 }),
        (planId, interval, ops) => {
          const one = entity({ planId, interval });
          let run = entity({ planId, interval });
          for (const op of ops) {
            const a = attempt(one, op);
            const b = attempt(run, op);
            expect(b).toEqual(a);
            run = new SubscriptionEntity(JSON.parse(JSON.stringify(run.nextRunInput(undefined))) as SubscriptionInput);
          }
          expect(run.snapshot()).toEqual(one.snapshot());
        },
      ),
    );
  });
});

function attempt(s: SubscriptionEntity, op: 'renew' | 'cancel' | 'reactivate'): unknown {
  try {
    if (op === 'renew') return s.renew();
    if (op === 'cancel') s.cancel();
    else s.reactivate();
    return s.snapshot();
  } catch (error) {
    return error instanceof ApplicationFailure ? error.type : String(error);
  }
}

describe('SubscriptionEntity: plan changes (immediate)', () => {
  it('upgrade: the plan switches at once and the prorated difference is invoiced (plan_change), version +1', () => {
    const s = entity({ planId: 'basic' });
    const now = T0 + 10 * DAY_MS; // 20 of 30 days left
    const line = {
      kind: 'proration',
      description: 'Basic (monthly) → Pro (monthly) for the rest of the period',
      quantity: '1',
      unitPrice: '20.00',
      amountMinor: '1333', // 20.00 × 20/30 = 13.333… rounded once
      periodStart: now,
      periodEnd: T0 + CYCLE,
    };
    expect(() => s.validateChange(change(s, { planId: 'pro' }), now)).not.toThrow();
    expect(s.snapshot().version).toBe(1); // validating changes nothing
    const result = s.applyChange(change(s, { planId: 'pro' }), now);
    expect(result).toEqual({
      decision: {
        allowed: true,
        kind: 'upgrade',
        effective: 'immediate',
        rule: null,
        next: { planId: 'pro', interval: 'monthly', seats: 1 },
        proration: { period: { start: T0, end: T0 + CYCLE }, lines: [line], netMinor: 1333n },
      },
      invoice: {
        customerId: 'cust_1',
        reason: 'plan_change',
        currency: 'USD',
        periodStart: now,
        periodEnd: T0 + CYCLE,
        lines: [line],
        totalMinor: '1333',
        idempotencyKey: 'invoice:cust_1:plan_change:v2',
      },
      creditAppliedMinor: 0n,
    });
    expect(s.snapshot().planId).toBe('pro');
    expect(s.snapshot()).toMatchObject({
      planId: 'pro',
      version: 2,
      periodStart: T0,
      periodEnd: T0 + CYCLE,
      cycleStart: T0,
      creditOwedMinor: '0',
      downgradesThisCycle: 0,
      pendingPlanId: null,
      pendingSeats: null,
    });
    // The next renewal bills the new plan in full; the closed cycle ended on it.
    const renewal = s.renew();
    expect(renewal.closedCycle).toEqual(closedCycle(catalog, 'pro', T0));
    expect(renewal.invoice?.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', '3000']]);
  });

  it('an upgrade\'s invoice key follows the version, so two upgrades get two invoices', () => {
    const s = entity({ planId: 'basic' });
    const first = s.applyChange(change(s, { planId: 'pro' }), T0 + DAY_MS).invoice;
    const second = s.applyChange(change(s, { planId: 'enterprise' }), T0 + 2 * DAY_MS).invoice;
    expect([first?.idempotencyKey, second?.idempotencyKey]).toEqual(['invoice:cust_1:plan_change:v2', 'invoice:cust_1:plan_change:v3']);
    expect(second?.totalMinor).toBe('6533'); // 70.00 × 28/30 = 65.333…
    expect(s.snapshot()).toMatchObject({ planId: 'enterprise', version: 3 });
  });

  it('monthly → yearly: a new yearly period from the cycle start, old remainder credited, new one charged', () => {
    const s = entity({ planId: 'pro' });
    const now = T0 + 10 * DAY_MS;
    const { decision, invoice } = s.applyChange(change(s, { interval: 'yearly' }), now);
    expect(decision.kind).toBe('interval_change');
    expect(decision.proration.netMinor).toBe(26000n);
    expect(invoice?.lines).toEqual([
      { kind: 'proration', description: 'Unused time on Pro (monthly)', quantity: '1', unitPrice: '-30.00', amountMinor: '-2000', periodStart: now, periodEnd: T0 + CYCLE },
      { kind: 'proration', description: 'Remaining time on Pro (yearly)', quantity: '1', unitPrice: '288.00', amountMinor: '28000', periodStart: now, periodEnd: T0 + YEAR },
    ]);
    expect(invoice?.totalMinor).toBe('26000');
    expect(s.snapshot()).toMatchObject({ interval: 'yearly', periodStart: T0, periodEnd: T0 + YEAR, cycleStart: T0, cycleEnd: T0 + CYCLE, version: 2 });
    expect(s.renew().newPeriod).toBe(false);
  });
});

describe('SubscriptionEntity: downgrades and credit owed', () => {
  it('a change made by a request with an id is keyed by version and id, so no other change can take its invoice key', () => {
    const s = entity({ planId: 'basic' });
    const { invoice } = s.applyChange(change(s, { planId: 'pro' }), T0 + DAY_MS, 'change-abc');
    expect(invoice?.idempotencyKey).toBe('invoice:cust_1:plan_change:v2:change-abc');
  });

  it('an upgrade spends credit owed: the invoice charges the rest, and the answer says how much credit it used', () => {
    const s = entity({ planId: 'pro' });
    s.applyChange(change(s, { planId: 'basic' }), T0 + DAY_MS); // owes 20.00 × 29/30 = 19.33
    expect(s.snapshot().creditOwedMinor).toBe('1933');
    const { invoice, creditAppliedMinor } = s.applyChange(change(s, { planId: 'enterprise' }), T0 + 2 * DAY_MS);
    // 90.00 × 28/30 = 84.00, less the 19.33 owed.
    expect(creditAppliedMinor).toBe(1933n);
    expect(invoice?.totalMinor).toBe('6467');
    expect(invoice?.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['proration', '8400'], ['credit', '-1933']]);
    expect(s.snapshot().creditOwedMinor).toBe('0');
  });

  it('renewal credit is reserved, and what the renewal did not spend comes back as a delta on top of changes made meanwhile', () => {
    const s = entity({ planId: 'pro' });
    s.applyChange(change(s, { planId: 'basic' }), T0 + DAY_MS); // owes 19.33
    s.renew(); // the Basic fee (10.00) takes 10.00 of it
    expect(s.snapshot().creditOwedMinor).toBe('933');
    const reserved = s.reserveCreditForRenewal();
    expect(reserved).toBe(933n);
    expect(s.snapshot().creditOwedMinor).toBe('0');
    const version = s.snapshot().version;
    // While the renewal activity runs, an upgrade cannot spend the reserved credit…
    const next = T0 + CYCLE + DAY_MS;
    const { creditAppliedMinor } = s.applyChange({ planId: 'pro', usage: {}, usageCycleStart: s.snapshot().cycleStart }, next);
    expect(creditAppliedMinor).toBe(0n);
    // …and the renewal spent 3.00 of it on overage: 6.33 comes back, as a new version.
    expect(s.returnUnspentCredit(633n, s.snapshot().version !== version)).toBe(true);
    expect(s.snapshot()).toMatchObject({ creditOwedMinor: '633', version: version + 2 });
    // Nothing changed meanwhile: the renewal's own write already holds the credit; no new version.
    const quiet = entity({ planId: 'pro' });
    quiet.applyChange(change(quiet, { planId: 'basic' }), T0 + DAY_MS);
    const quietVersion = quiet.snapshot().version;
    const all = quiet.reserveCreditForRenewal();
    expect(quiet.returnUnspentCredit(all, false)).toBe(false);
    expect(quiet.snapshot()).toMatchObject({ creditOwedMinor: '1933', version: quietVersion });
    expect(quiet.returnUnspentCredit(0n, true)).toBe(false);
  });

  it('remembers Update answers for a day, at most 64, across runs, per Update name', () => {
    const s = entity({ planId: 'pro' });
    const answer = s.snapshot();
    s.rememberAnswer('cancel-a', 'cancel.v1', T0, answer);
    expect(s.answerTo('cancel-a', 'cancel.v1')).toEqual(answer);
    expect(s.answerTo('cancel-a', 'reactivate.v1')).toBeUndefined();
    // Carried by continue-as-new (through JSON, as Temporal payloads are).
    const next = new SubscriptionEntity(JSON.parse(JSON.stringify(s.nextRunInput(undefined))) as SubscriptionInput);
    expect(next.answerTo('cancel-a', 'cancel.v1')).toEqual(answer);
    // A day later it is forgotten (the Idempotency-Key that named it is gone too).
    next.rememberAnswer('cancel-b', 'cancel.v1', T0 + DAY_MS + 1, answer);
    expect(next.answerTo('cancel-a', 'cancel.v1')).toBeUndefined();
    for (let i = 0; i < 70; i++) next.rememberAnswer(`x-${i}`, 'cancel.v1', T0 + DAY_MS + 2 + i, answer);
    expect(next.answerTo('x-5', 'cancel.v1')).toBeUndefined();
    expect(next.answerTo('x-69', 'cancel.v1')).toEqual(answer);
    expect(next.nextRunInput(undefined).answeredUpdates).toHaveLength(64);
  });

  it('hands alert deliveries still in progress to the next run', () => {
    const s = entity({ planId: 'free' });
    const crossing = { metric: 'api_calls', cycleStart: T0, cycleEnd: T0 + CYCLE, threshold: 80 as const, used: '800', limit: '1000' };
    s.alertDeliveryStarted(crossing);
    expect(s.nextRunInput(undefined).pendingAlerts).toEqual([crossing]);
    s.alertDeliveryFinished(crossing);
    expect(s.nextRunInput(undefined).pendingAlerts).toBeUndefined();
  });

  it('an immediate downgrade owes the unused difference; renewals take it off as credit lines, the rest carried over', () => {
    const s = entity({ planId: 'pro' });
    const now = T0 + 3 * DAY_MS; // 27 of 30 days left
    const { decision, invoice } = s.applyChange(change(s, { planId: 'basic', usage: { api_calls: '3300' } }), now);
    expect(decision).toEqual({
      allowed: true,
      kind: 'downgrade',
      effective: 'immediate',
      rule: 1,
      next: { planId: 'basic', interval: 'monthly', seats: 1 },
      proration: {
        period: { start: T0, end: T0 + CYCLE },
        lines: [{ kind: 'proration', description: 'Pro (monthly) → Basic (monthly) for the rest of the period', quantity: '1', unitPrice: '-20.00', amountMinor: '-1800', periodStart: now, periodEnd: T0 + CYCLE }],
        netMinor: -1800n,
      },
    });
    expect(invoice).toBeUndefined(); // nothing to charge now
    expect(s.snapshot()).toMatchObject({ planId: 'basic', creditOwedMinor: '1800', version: 2, downgradesThisCycle: 1 });

    // First renewal: Basic 10.00, credit at most the total (10.00); 8.00 stays owed.
    const first = s.renew();
    expect(first.closedCycle).toEqual(closedCycle(catalog, 'basic', T0));
    expect(first.invoice).toEqual({
      customerId: 'cust_1',
      reason: 'renewal',
      currency: 'USD',
      periodStart: T0 + CYCLE,
      periodEnd: T0 + 2 * CYCLE,
      lines: [
        { kind: 'plan', description: 'Basic plan (monthly)', quantity: '1', unitPrice: '10.00', amountMinor: '1000', periodStart: T0 + CYCLE, periodEnd: T0 + 2 * CYCLE },
        { kind: 'credit', description: 'Credit for unused time after a plan change', quantity: '1', unitPrice: '0', amountMinor: '-1000', periodStart: T0 + CYCLE, periodEnd: T0 + 2 * CYCLE },
      ],
      totalMinor: '0',
      idempotencyKey: `invoice:cust_1:renewal:${iso(T0 + CYCLE)}`,
    });
    expect(s.snapshot()).toMatchObject({ creditOwedMinor: '800', downgradesThisCycle: 0 });

    // Second renewal: the remaining 8.00 is taken off.
    const second = s.renew().invoice;
    expect(second?.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', '1000'], ['credit', '-800']]);
    expect(second?.totalMinor).toBe('200');
    expect(s.snapshot().creditOwedMinor).toBe('0');

    // Third renewal: nothing owed any more, no credit line.
    const third = s.renew().invoice;
    expect(third?.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', '1000']]);
    expect(third?.totalMinor).toBe('1000');
  });

  it('a second downgrade in the same cycle is refused with downgrade_limit_reached; after renew() it is allowed', () => {
    const s = entity({ planId: 'pro' });
    s.applyChange(change(s, { planId: 'basic' }), T0 + DAY_MS);
    expect(s.snapshot()).toMatchObject({ planId: 'basic', downgradesThisCycle: 1, creditOwedMinor: '1933' }); // 20.00 × 29/30
    const before = s.snapshot();
    for (const action of [() => s.validateChange(change(s, { planId: 'free' }), T0 + 2 * DAY_MS), () => void s.applyChange(change(s, { planId: 'free' }), T0 + 2 * DAY_MS)]) {
      const failure = refusalOf(action);
      expect(failure.type).toBe('downgrade_limit_reached');
      expect(failure.message).toBe('The subscription was already downgraded in this cycle; try again after the renewal on 2025-01-31.');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.details).toEqual([{ retryAfter: '2025-01-31T00:00:00.000Z' }]);
    }
    expect(s.snapshot()).toEqual(before);

    s.renew();
    expect(s.snapshot()).toMatchObject({ downgradesThisCycle: 0, creditOwedMinor: '933' });
    const { decision } = s.applyChange(change(s, { planId: 'free' }), T0 + CYCLE + DAY_MS);
    expect(decision.kind).toBe('downgrade');
    expect(decision.proration.netMinor).toBe(-967n); // 10.00 × 29/30
    expect(s.snapshot()).toMatchObject({ planId: 'free', downgradesThisCycle: 1, creditOwedMinor: '1900' });
  });

  it('a downgrade is refused while usage so far is above the allowance (usage_exceeds_downgrade_allowance)', () => {
    const s = entity({ planId: 'pro' });
    const now = T0 + 3 * DAY_MS; // Basic allowance: 30,000 × 3/30 × 1.1 = 3,300
    const failure = refusalOf(() => s.applyChange(change(s, { planId: 'basic', usage: { api_calls: '3301' } }), now));
    expect(failure.type).toBe('usage_exceeds_downgrade_allowance');
    expect(failure.message).toBe('API calls used so far (3,301) is more than the Basic plan allows at this point of the cycle (3,300 of 30,000).');
    expect(failure.details).toEqual([{ metric: 'api_calls', used: 3301, allowance: 3300, targetLimit: 30000, daysElapsed: 3 }]);
    expect(s.snapshot()).toMatchObject({ planId: 'pro', version: 1, downgradesThisCycle: 0 });
  });
});

describe('SubscriptionEntity: plan change refusals', () => {
  it('usage measured in another cycle is refused with stale_usage', () => {
    const s = entity({ planId: 'pro' });
    s.renew();
    const before = s.snapshot();
    const stale: ChangePlanRequest = { planId: 'enterprise', usage: {}, usageCycleStart: T0 };
    for (const action of [() => s.validateChange(stale, T0 + CYCLE + DAY_MS), () => void s.applyChange(stale, T0 + CYCLE + DAY_MS)]) {
      const failure = refusalOf(action);
      expect(failure.type).toBe('stale_usage');
      expect(failure.message).toBe('The usage sent was measured in another cycle (the subscription just renewed); measure it again.');
      expect(failure.nonRetryable).toBe(true);
    }
    expect(s.snapshot()).toEqual(before);
    // Measured again in the current cycle: accepted.
    s.applyChange({ ...stale, usageCycleStart: T0 + CYCLE }, T0 + CYCLE + DAY_MS);
    expect(s.snapshot().planId).toBe('enterprise');
  });

  it('every change is refused with cancellation_scheduled while a cancellation is scheduled; reactivating allows it', () => {
    const s = entity({ planId: 'pro' });
    s.cancel();
    const before = s.snapshot();
    for (const request of [{ planId: 'enterprise' }, { planId: 'basic' }, { interval: 'yearly' as const }]) {
      const failure = refusalOf(() => s.applyChange(change(s, request), T0 + DAY_MS));
      expect(failure.type).toBe('cancellation_scheduled');
      expect(failure.message).toBe('A cancellation is scheduled: reactivate the subscription first, then change the plan.');
      expect(refusalOf(() => s.validateChange(change(s, request), T0 + DAY_MS)).type).toBe('cancellation_scheduled');
    }
    expect(s.snapshot()).toEqual(before);
    s.reactivate();
    expect(s.applyChange(change(s, { planId: 'enterprise' }), T0 + DAY_MS).decision.kind).toBe('upgrade');
    expect(s.snapshot()).toMatchObject({ planId: 'enterprise', status: 'active', version: 4 });
  });

  it('other refusals carry their code: unknown_plan, no_change, invalid_seats', () => {
    const s = entity({ planId: 'pro' });
    expect(refusalOf(() => s.applyChange(change(s, { planId: 'platinum' }), T0)).type).toBe('unknown_plan');
    expect(refusalOf(() => s.applyChange(change(s, { planId: 'pro' }), T0)).type).toBe('no_change');
    expect(refusalOf(() => s.applyChange(change(s, { seats: 2 }), T0)).type).toBe('invalid_seats');
    expect(s.snapshot().version).toBe(1);
  });
});

describe('SubscriptionEntity: plan changes on the EUR seat catalog (period-end downgrades)', () => {
  it('once a renewal hands the next run another catalog, the snapshot names it and changes wait for that run', () => {
    const s = new SubscriptionEntity(input({ catalog: seatsCatalog, planId: 'business', seats: 12 }), { changeRules: true });
    const edited = { ...seatsCatalog, plans: seatsCatalog.plans.map((p) => (p.id === 'team' ? { ...p, price: { monthly: '31.00' } } : p)) };
    s.handOverCatalog(seatsCatalog);
    expect(s.snapshot().catalogVersion).toBe(catalogVersionOf(seatsCatalog));
    s.handOverCatalog(edited);
    expect(s.snapshot().catalogVersion).toBe(catalogVersionOf(edited));
    expect(s.decidingCatalog).toBe(edited);
    expect(refusalOf(() => s.validateChange(change(s, { planId: 'team' }), T0 + DAY_MS)).type).toBe('subscription_busy');
    // Runs from before the patch know nothing of it.
    const old = new SubscriptionEntity(input({ catalog: seatsCatalog, planId: 'business', seats: 12 }));
    old.handOverCatalog(edited);
    expect(old.snapshot().catalogVersion).toBe(catalogVersionOf(seatsCatalog));
    expect(() => old.validateChange(change(old, { planId: 'team' }), T0 + DAY_MS)).not.toThrow();
  });

  it('a later change naming the current plan ends on that plan: the scheduled downgrade is dropped and the cycle\'s downgrade given back', () => {
    const s = new SubscriptionEntity(input({ catalog: seatsCatalog, planId: 'business', interval: 'yearly', seats: 12 }), { changeRules: true });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    expect(s.snapshot()).toMatchObject({ pendingPlanId: 'team', downgradesThisCycle: 1 });
    // Business monthly from the year's end, as the answer says: not Team monthly.
    const { decision } = s.applyChange(change(s, { planId: 'business', interval: 'monthly' }), T0 + 2 * DAY_MS);
    expect(decision).toMatchObject({ kind: 'interval_change', effective: 'period_end', next: { planId: 'business', interval: 'monthly', seats: 12 } });
    expect(s.snapshot()).toMatchObject({ planId: 'business', pendingPlanId: null, pendingInterval: 'monthly', downgradesThisCycle: 0 });
    // An immediate change naming the current plan drops the scheduled plan too.
    s.applyChange(change(s, { planId: 'team' }), T0 + 3 * DAY_MS);
    s.applyChange(change(s, { planId: 'business', seats: 14 }), T0 + 4 * DAY_MS);
    expect(s.snapshot()).toMatchObject({ planId: 'business', seats: 14, pendingPlanId: null, downgradesThisCycle: 0 });
  });

  it('a downgrade is deferred: pendingPlanId is set, nothing is charged, and the period renewal applies it', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    const { decision, invoice } = s.applyChange(change(s, { planId: 'team', usage: { sessions: '1000' } }), T0 + 5 * DAY_MS);
    expect(decision).toEqual({
      allowed: true,
      kind: 'downgrade',
      effective: 'period_end',
      rule: 0,
      next: { planId: 'team', interval: 'monthly', seats: 12 },
      proration: { period: { start: T0, end: T0 + CYCLE }, lines: [], netMinor: 0n },
    });
    expect(invoice).toBeUndefined();
    expect(s.snapshot()).toMatchObject({
      planId: 'business',
      seats: 12,
      pendingPlanId: 'team',
      pendingSeats: null, // the seat count does not change, so nothing is scheduled for seats
      downgradesThisCycle: 1,
      creditOwedMinor: '0',
      version: 2,
    });
    expect(refusalOf(() => s.applyChange(change(s, { planId: 'personal' }), T0 + 6 * DAY_MS)).type).toBe('downgrade_limit_reached');

    const renewal = s.renew();
    expect(renewal.closedCycle).toEqual(closedCycle(seatsCatalog, 'business', T0)); // the closed cycle was on Business
    expect(renewal.invoice?.lines.map((l) => [l.kind, l.description, l.quantity, l.amountMinor])).toEqual([
      ['plan', 'Team plan (monthly)', '1', '2900'],
      ['seats', '9 additional seats (monthly)', '9', '7200'],
    ]);
    expect(renewal.invoice?.totalMinor).toBe('10100');
    expect(s.snapshot()).toMatchObject({ planId: 'team', seats: 12, pendingPlanId: null, pendingSeats: null, periodStart: T0 + CYCLE, currency: 'EUR' });
    expect(s.renew().closedCycle.plan.id).toBe('team');
  });

  it('yearly: a deferred downgrade waits for the end of the year, not the end of the cycle', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12, interval: 'yearly' });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    for (let i = 0; i < 11; i++) {
      expect(s.renew().newPeriod).toBe(false);
      expect(s.snapshot()).toMatchObject({ planId: 'business', pendingPlanId: 'team', downgradesThisCycle: 0 });
    }
    const renewal = s.renew();
    expect(renewal.closedCycle.plan.id).toBe('business');
    expect(renewal.invoice?.lines[0]?.description).toBe('Team plan (yearly)');
    expect(s.snapshot()).toMatchObject({ planId: 'team', interval: 'yearly', pendingPlanId: null, pendingSeats: null });
  });

  it('a seat removal is pending until the period renewal (yearly: 11 cycle renewals keep the seats)', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'team', seats: 7, interval: 'yearly' });
    const { decision, invoice } = s.applyChange(change(s, { seats: 4 }), T0 + 5 * DAY_MS);
    expect(decision).toEqual({
      allowed: true,
      kind: 'seats_removed',
      effective: 'period_end',
      rule: 1,
      next: { planId: 'team', interval: 'yearly', seats: 4 },
      proration: { period: { start: T0, end: T0 + YEAR }, lines: [], netMinor: 0n },
    });
    expect(invoice).toBeUndefined();
    expect(s.snapshot()).toMatchObject({ seats: 7, pendingSeats: 4, pendingPlanId: null, downgradesThisCycle: 0, version: 2 });
    for (let i = 0; i < 11; i++) {
      expect(s.renew().newPeriod).toBe(false);
      expect(s.snapshot()).toMatchObject({ seats: 7, pendingSeats: 4 });
    }
    const renewal = s.renew();
    expect(renewal.newPeriod).toBe(true);
    expect(renewal.invoice?.lines.map((l) => [l.kind, l.quantity, l.amountMinor])).toEqual([
      ['plan', '1', '29580'], // 29.00 × 12 × 85%
      ['seats', '1', '8160'], // 8.00 × 12 × 85%
    ]);
    expect(s.snapshot()).toMatchObject({ planId: 'team', seats: 4, pendingSeats: null, pendingPlanId: null });
  });

  it('a seat removal below the plan minimum is refused with invalid_seats', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    expect(refusalOf(() => s.applyChange(change(s, { seats: 2 }), T0 + DAY_MS)).type).toBe('invalid_seats');
    expect(s.snapshot()).toMatchObject({ seats: 12, pendingSeats: null, version: 1 });
  });

  it('a seat addition is immediate and invoiced prorated', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'team', seats: 5 });
    const now = T0 + 10 * DAY_MS;
    const line = {
      kind: 'proration',
      description: 'Team (monthly, 5 seats) → Team (monthly, 8 seats) for the rest of the period',
      quantity: '1',
      unitPrice: '24.00',
      amountMinor: '1600', // 3 × 8.00 × 20/30
      periodStart: now,
      periodEnd: T0 + CYCLE,
    };
    const { decision, invoice } = s.applyChange(change(s, { seats: 8 }), now);
    expect(decision).toMatchObject({ kind: 'seats_added', effective: 'immediate', next: { planId: 'team', interval: 'monthly', seats: 8 } });
    expect(invoice).toEqual({
      customerId: 'cust_1',
      reason: 'plan_change',
      currency: 'EUR',
      periodStart: now,
      periodEnd: T0 + CYCLE,
      lines: [line],
      totalMinor: '1600',
      idempotencyKey: 'invoice:cust_1:plan_change:v2',
    });
    expect(s.snapshot()).toMatchObject({ seats: 8, pendingSeats: null, version: 2, downgradesThisCycle: 0 });
    expect(s.renew().invoice?.lines.map((l) => [l.kind, l.quantity, l.amountMinor])).toEqual([['plan', '1', '2900'], ['seats', '5', '4000']]);
  });

  it('an upgrade while a downgrade is pending applies at once and drops the pending change', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    const { invoice } = s.applyChange(change(s, { planId: 'enterprise' }), T0 + 2 * DAY_MS);
    expect(invoice?.reason).toBe('plan_change');
    expect(s.snapshot()).toMatchObject({ planId: 'enterprise', seats: 12, pendingPlanId: null, pendingSeats: null, version: 3 });
    s.renew();
    expect(s.snapshot()).toMatchObject({ planId: 'enterprise' });
  });

  it('a cancellation overrides a pending downgrade at the period end', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    s.cancel();
    expect(s.renew().invoice).toBeUndefined();
    expect(s.snapshot()).toMatchObject({ planId: 'free', seats: 1, pendingPlanId: null, pendingSeats: null, status: 'active' });
  });

  // The interval asked for together with a period-end downgrade is applied with it.
  it('a period-end downgrade that also switches yearly → monthly renews on the monthly interval', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12, interval: 'yearly' });
    const { decision } = s.applyChange(change(s, { planId: 'team', interval: 'monthly' }), T0 + DAY_MS);
    expect(decision).toMatchObject({ kind: 'downgrade', effective: 'period_end', next: { planId: 'team', interval: 'monthly', seats: 12 } });
    for (let i = 0; i < 12; i++) s.renew();
    expect(s.snapshot()).toMatchObject({ planId: 'team', interval: 'monthly', periodStart: T0 + YEAR, periodEnd: T0 + YEAR + CYCLE });
  });
});

describe('SubscriptionEntity: acceptCrossing', () => {
  const crossing = (cycleStart: number, threshold: 80 | 100 = 80, metric = 'api_calls'): ThresholdCrossing =>
    ({ metric, cycleStart, cycleEnd: cycleStart + CYCLE, threshold, used: '24000', limit: '30000' });

  it('accepts a crossing once; the same metric, cycle and threshold again is ignored', () => {
    const s = entity({ planId: 'basic' });
    expect(s.acceptCrossing(crossing(T0))).toBe(true);
    expect(s.acceptCrossing(crossing(T0))).toBe(false);
    expect(s.acceptCrossing(crossing(T0, 100))).toBe(true);
    expect(s.acceptCrossing(crossing(T0, 100))).toBe(false);
    expect(s.acceptCrossing(crossing(T0, 80, 'other'))).toBe(true);
    expect(s.snapshot().version).toBe(1); // alerts are not subscription state changes
  });

  it('accepts crossings of the current and the previous cycle, ignores older ones', () => {
    const s = entity({ planId: 'basic' });
    s.renew();
    s.renew(); // current cycle starts at T0 + 2 cycles
    expect(s.acceptCrossing(crossing(T0))).toBe(false);
    expect(s.acceptCrossing(crossing(T0 + CYCLE - 1))).toBe(false);
    expect(s.acceptCrossing(crossing(T0 + CYCLE))).toBe(true);
    expect(s.acceptCrossing(crossing(T0 + CYCLE))).toBe(false);
    expect(s.acceptCrossing(crossing(T0 + 2 * CYCLE))).toBe(true);
  });

  it('remembers the latest 64 crossings across runs (nextRunInput)', () => {
    const s = entity({ planId: 'basic' });
    for (let i = 0; i < 65; i++) expect(s.acceptCrossing(crossing(T0, 80, `m${i}`))).toBe(true);
    const next = s.nextRunInput(undefined);
    expect(next.alertsHandled).toHaveLength(64);
    expect(next.alertsHandled?.[63]).toBe(`m64:${T0}:80:30000`);
    const run = new SubscriptionEntity(JSON.parse(JSON.stringify(next)) as SubscriptionInput);
    expect(run.acceptCrossing(crossing(T0, 80, 'm64'))).toBe(false);
    expect(run.acceptCrossing(crossing(T0, 80, 'm1'))).toBe(false);
    expect(run.acceptCrossing(crossing(T0, 80, 'm0'))).toBe(true); // the oldest was forgotten
  });
});

describe('SubscriptionEntity: nextRunInput with plan changes', () => {
  it('round trips pending changes, the downgrade count and handled alerts', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    expect(s.acceptCrossing({ metric: 'sessions', cycleStart: T0, cycleEnd: T0 + CYCLE, threshold: 80, used: '800000', limit: '1000000' })).toBe(true);
    const next = s.nextRunInput(undefined);
    expect(next).toMatchObject({
      planId: 'business',
      seats: 12,
      pendingPlanId: 'team',
      downgradesThisCycle: 1,
      alertsHandled: [`sessions:${T0}:80:1000000`],
      version: 2,
      invoiceFirstPeriod: false,
    });
    expect(next.pendingSeats).toBeUndefined();
    const overTheWire = JSON.parse(JSON.stringify(next)) as SubscriptionInput;
    expect(overTheWire).toEqual(next);
    const run = new SubscriptionEntity(overTheWire);
    expect(run.snapshot()).toEqual(s.snapshot());
    // The carried downgrade count still refuses a second downgrade in this cycle.
    expect(refusalOf(() => run.applyChange(change(run, { planId: 'personal' }), T0 + 2 * DAY_MS)).type).toBe('downgrade_limit_reached');
    // And the pending downgrade is applied by the next run's renewal exactly as by the original entity.
    expect(run.renew()).toEqual(s.renew());
    expect(run.snapshot()).toEqual(s.snapshot());
    expect(run.snapshot()).toMatchObject({ planId: 'team', pendingPlanId: null });
  });

  it('round trips a pending seat removal and credit owed', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'team', seats: 7 });
    s.applyChange(change(s, { seats: 4 }), T0 + DAY_MS);
    const next = s.nextRunInput(undefined);
    expect(next.pendingSeats).toBe(4);
    expect(next).not.toHaveProperty('pendingPlanId');
    const run = new SubscriptionEntity(JSON.parse(JSON.stringify(next)) as SubscriptionInput);
    expect(run.snapshot()).toEqual(s.snapshot());

    const u = entity({ planId: 'pro' });
    u.applyChange(change(u, { planId: 'basic' }), T0 + 3 * DAY_MS);
    const carried = new SubscriptionEntity(JSON.parse(JSON.stringify(u.nextRunInput(undefined))) as SubscriptionInput);
    expect(carried.snapshot().creditOwedMinor).toBe('1800');
    expect(carried.renew()).toEqual(u.renew());
  });

  it('a chain of runs with plan changes equals one entity throughout (property)', () => {
    type Op = 'renew' | 'cancel' | 'reactivate' | { planId?: string; interval?: Interval; seats?: number; at: number };
    const catalogs = [catalog, seatsCatalog];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }).chain((c) => {
          const cat = catalogs[c]!;
          const planIds = cat.plans.map((p) => p.id);
          const op: fc.Arbitrary<Op> = fc.oneof(
            fc.constantFrom('renew' as const, 'cancel' as const, 'reactivate' as const),
            fc.record(
              {
                planId: fc.constantFrom(...planIds),
                interval: fc.constantFrom('monthly' as const, 'yearly' as const),
                seats: fc.integer({ min: 1, max: 30 }),
                at: fc.integer({ min: 0, max: CYCLE - 1 }),
              },
              { requiredKeys: ['at'] },
            ),
          );
          return fc.tuple(fc.constant(cat), fc.constantFrom(...planIds), fc.constantFrom('monthly' as const, 'yearly' as const), fc.array(op, { maxLength: 30 }));
        }),
        ([cat, planId, interval, ops]) => {
          const start = { catalog: cat, planId, interval, seats: defaultSeats(requirePlan(cat, planId)) };
          const one = entity(start);
          let run = entity(start);
          for (const op of ops) {
            expect(attemptAny(run, op)).toEqual(attemptAny(one, op));
            run = new SubscriptionEntity(JSON.parse(JSON.stringify(run.nextRunInput(undefined))) as SubscriptionInput);
          }
          expect(run.snapshot()).toEqual(one.snapshot());
        },
      ),
    );
  });

  it('an upgrade then a downgrade back in the same cycle never nets the customer money (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(['free', 'basic'], ['free', 'pro'], ['basic', 'pro'], ['basic', 'enterprise'], ['pro', 'enterprise']),
        fc.constantFrom('monthly' as const, 'yearly' as const),
        fc.integer({ min: 0, max: CYCLE - 1 }),
        fc.integer({ min: 0, max: CYCLE - 1 }),
        ([low, high], interval, a, b) => {
          const s = entity({ planId: low!, interval });
          const [t1, t2] = a <= b ? [a, b] : [b, a];
          const charged = s.applyChange(change(s, { planId: high }), T0 + t1).decision.proration.netMinor;
          const credited = -s.applyChange(change(s, { planId: low }), T0 + t2).decision.proration.netMinor;
          expect(credited).toBeLessThanOrEqual(charged);
          expect(BigInt(s.snapshot().creditOwedMinor)).toBe(credited);
        },
      ),
    );
  });
});

function attemptAny(s: SubscriptionEntity, op: 'renew' | 'cancel' | 'reactivate' | { planId?: string; interval?: Interval; seats?: number; at: number }): unknown {
  if (typeof op === 'string') return attempt(s, op);
  try {
    const { at, ...request } = op;
    const result = s.applyChange(change(s, request), s.snapshot().cycleStart + at);
    return { result, snapshot: s.snapshot() };
  } catch (error) {
    return error instanceof ApplicationFailure ? error.type : String(error);
  }
}

describe('SubscriptionEntity: fixes from review', () => {
  it('seats scheduled on a plan are clamped to the plan the new period lands on', () => {
    // Business 40 seats schedules Team (max 20), then asks for 30 seats: Team still allows only 20.
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 40 });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    s.applyChange(change(s, { seats: 30 }), T0 + 2 * DAY_MS);
    expect(s.snapshot()).toMatchObject({ pendingPlanId: 'team', pendingSeats: 20 });
    const { invoice } = s.renew();
    expect(s.snapshot()).toMatchObject({ planId: 'team', seats: 20 });
    expect(invoice?.totalMinor).toBe(String(2900 + 17 * 800));
  });

  it('owed credit is taken off a plan-change charge too', () => {
    const s = entity({ planId: 'pro' });
    s.applyChange(change(s, { planId: 'basic' }), T0 + 15 * DAY_MS); // $20 × 15/30 = $10.00 owed
    expect(s.snapshot().creditOwedMinor).toBe('1000');
    s.renew(); // next cycle: Basic $10 − $10 credit
    expect(s.snapshot().creditOwedMinor).toBe('0');
    const t = entity({ planId: 'pro' });
    t.applyChange(change(t, { planId: 'basic' }), T0 + 3 * DAY_MS); // $20 × 27/30 = $18.00 owed
    const { invoice } = t.applyChange(change(t, { planId: 'enterprise' }), T0 + 3 * DAY_MS); // $90 × 27/30 = $81.00
    expect(invoice?.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['proration', '8100'], ['credit', '-1800']]);
    expect(invoice?.totalMinor).toBe('6300');
    expect(t.snapshot().creditOwedMinor).toBe('0');
  });
});

describe('SubscriptionEntity: alerts after an upgrade', () => {
  it('the same threshold on a new limit (after an upgrade) is a new alert', () => {
    const s = entity({ planId: 'basic' });
    const at = (limit: string) => ({ metric: 'api_calls', cycleStart: T0, cycleEnd: T0 + CYCLE, threshold: 80 as const, used: '1', limit });
    expect(s.acceptCrossing(at('30000'))).toBe(true);
    expect(s.acceptCrossing(at('30000'))).toBe(false);
    expect(s.acceptCrossing(at('300000'))).toBe(true);
  });
});

describe('SubscriptionEntity: withdrawing a scheduled change', () => {
  it('asking for the current plan withdraws a scheduled downgrade; with nothing scheduled it is no_change', () => {
    const s = entity({ catalog: seatsCatalog, planId: 'business', seats: 12 });
    s.applyChange(change(s, { planId: 'team' }), T0 + DAY_MS);
    expect(s.snapshot().pendingPlanId).toBe('team');
    const { decision, invoice } = s.applyChange(change(s, { planId: 'business' }), T0 + 2 * DAY_MS);
    expect(decision.kind).toBe('scheduled_change_cancelled');
    expect(invoice).toBeUndefined();
    expect(s.snapshot()).toMatchObject({ pendingPlanId: null, pendingSeats: null, pendingInterval: null, downgradesThisCycle: 1 });
    expect(refusalOf(() => s.applyChange(change(s, { planId: 'business' }), T0 + 3 * DAY_MS)).type).toBe('no_change');
    s.renew();
    expect(s.snapshot().planId).toBe('business');
  });
});

describe('SubscriptionEntity: provider webhook events', () => {
  const fresh = () => new SubscriptionEntity(newSubscriptionInput({ catalog, customerId: 'pay', planId: 'pro', interval: 'monthly', seats: 1, now: T0 }));

  it('applies each event id once, across runs', () => {
    const s = fresh();
    expect(s.acceptPaymentEvent('evt_1')).toBe(true);
    expect(s.acceptPaymentEvent('evt_1')).toBe(false);
    const next = new SubscriptionEntity(s.nextRunInput(undefined));
    expect(next.acceptPaymentEvent('evt_1')).toBe(false);
    expect(next.acceptPaymentEvent('evt_2')).toBe(true);
  });

  it('remembers the latest PAYMENT_EVENTS_KEPT ids, so the next run\'s input stays small', () => {
    const s = fresh();
    for (let n = 0; n < 200; n += 1) s.acceptPaymentEvent(`evt_${n}`);
    const input = s.nextRunInput(undefined);
    expect(input.paymentEventsHandled).toHaveLength(128);
    expect(input.paymentEventsHandled?.[0]).toBe('evt_72');
    expect(new SubscriptionEntity(input).acceptPaymentEvent('evt_199')).toBe(false);
  });

  it('a subscription that never saw one carries nothing', () => {
    expect(fresh().nextRunInput(undefined)).not.toHaveProperty('paymentEventsHandled');
  });
});
