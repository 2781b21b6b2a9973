import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import type { Catalog, Interval } from '../../billing/catalog.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { SubscriptionEntity } from '../../workflows/subscriptionEntity.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import type { SubscriptionInput } from '../../workflows/messages.js';

const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const catalog = loadCatalog(path.join(configDir, 'catalog.json'));
const seatsCatalog = loadCatalog(path.join(configDir, 'examples/seats-eur.json'));

const T0 = Date.UTC(2025, 0, 1); // 2025-01-01T00:00:00.000Z
const CYCLE = 30 * DAY_MS;
const YEAR = 12 * CYCLE;
const iso = (ms: number) => new Date(ms).toISOString();

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
function refusalOf(action: () => void): { type: string | undefined | null; message: string; nonRetryable: boolean | undefined | null } {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ApplicationFailure);
    const failure = error as ApplicationFailure;
    return { type: failure.type, message: failure.message, nonRetryable: failure.nonRetryable };
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
    });
  });

  it('getters', () => {
    const s = entity({ planId: 'pro', interval: 'yearly' });
    expect(s.customerId).toBe('cust_1');
    expect(s.currentPlanId).toBe('pro');
    expect(s.currentCycleEnd).toBe(T0 + CYCLE);
    expect(s.currentPeriodEnd).toBe(T0 + YEAR);
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
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined });
    expect(s.snapshot()).toMatchObject({ planId: 'free', periodStart: T0 + CYCLE, periodEnd: T0 + 2 * CYCLE, cycleNumber: 1, version: 2 });
  });

  it('yearly: 11 renewals only move the cycle; the 12th starts a new year and invoices it', () => {
    const s = entity({ planId: 'pro', interval: 'yearly' });
    for (let i = 1; i <= 11; i++) {
      expect(s.renew()).toEqual({ newPeriod: false });
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
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined });
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
    expect(s.renew()).toEqual({ newPeriod: true, invoice: undefined });
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
    });
    expect(new SubscriptionEntity(next).snapshot()).toEqual(s.snapshot());
  });

  it('survives JSON (Temporal payloads) unchanged', () => {
    const s = entity({ planId: 'pro' });
    s.renew();
    const next = s.nextRunInput(undefined);
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
