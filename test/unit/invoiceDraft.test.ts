import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalog } from '../../config/loadCatalog.js';
import { draftInvoice, invoiceIdempotencyKey, periodFeeLines, totalMinor, type InvoiceLineDraft } from '../../billing/invoiceDraft.js';
import { DAY_MS, periodOf } from '../../billing/period.js';

const configDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');
const catalog = loadCatalog(path.join(configDir, 'catalog.json'));
const seatsCatalog = loadCatalog(path.join(configDir, 'examples/seats-eur.json'));

const T0 = Date.UTC(2025, 2, 1); // 2025-03-01T00:00:00.000Z
const MONTH = periodOf(T0, 'monthly', 30);
const YEAR = periodOf(T0, 'yearly', 30);

function line(kind: InvoiceLineDraft['kind'], description: string, quantity: string, unitPrice: string, amountMinor: string, period = MONTH): InvoiceLineDraft {
  return { kind, description, quantity, unitPrice, amountMinor, periodStart: period.start, periodEnd: period.end };
}

describe('periodFeeLines (default catalog)', () => {
  it.each([
    ['free', 'monthly', line('plan', 'Free plan (monthly)', '1', '0.00', '0')],
    ['basic', 'monthly', line('plan', 'Basic plan (monthly)', '1', '10.00', '1000')],
    ['pro', 'monthly', line('plan', 'Pro plan (monthly)', '1', '30.00', '3000')],
    ['enterprise', 'monthly', line('plan', 'Enterprise plan (monthly)', '1', '100.00', '10000')],
    ['free', 'yearly', line('plan', 'Free plan (yearly)', '1', '0.00', '0', YEAR)],
    ['basic', 'yearly', line('plan', 'Basic plan (yearly)', '1', '96.00', '9600', YEAR)],
    ['pro', 'yearly', line('plan', 'Pro plan (yearly)', '1', '288.00', '28800', YEAR)],
    ['enterprise', 'yearly', line('plan', 'Enterprise plan (yearly)', '1', '960.00', '96000', YEAR)],
  ] as const)('%s %s', (planId, interval, expected) => {
    const period = interval === 'monthly' ? MONTH : YEAR;
    expect(periodFeeLines({ catalog, planId, interval, seats: 1, period })).toEqual([expected]);
  });

  it('ignores seats on plans without seats', () => {
    expect(periodFeeLines({ catalog, planId: 'pro', interval: 'monthly', seats: 5, period: MONTH })).toEqual([
      line('plan', 'Pro plan (monthly)', '1', '30.00', '3000'),
    ]);
  });

  it('refuses an unknown plan', () => {
    expect(() => periodFeeLines({ catalog, planId: 'platinum', interval: 'monthly', seats: 1, period: MONTH })).toThrow('unknown plan platinum');
  });
});

describe('seats (seats-eur example catalog)', () => {
  it('seats within those included add no line', () => {
    expect(periodFeeLines({ catalog: seatsCatalog, planId: 'team', interval: 'monthly', seats: 3, period: MONTH })).toEqual([
      line('plan', 'Team plan (monthly)', '1', '29.00', '2900'),
    ]);
    expect(periodFeeLines({ catalog: seatsCatalog, planId: 'team', interval: 'monthly', seats: 1, period: MONTH })).toHaveLength(1);
  });

  it('one seat beyond those included is a singular seats line', () => {
    expect(periodFeeLines({ catalog: seatsCatalog, planId: 'team', interval: 'monthly', seats: 4, period: MONTH })).toEqual([
      line('plan', 'Team plan (monthly)', '1', '29.00', '2900'),
      line('seats', '1 additional seat (monthly)', '1', '8.00', '800'),
    ]);
  });

  it('team with 5 seats: 2 extra × 8.00 EUR', () => {
    const invoice = draftInvoice({
      catalog: seatsCatalog,
      customerId: 'acme',
      reason: 'renewal',
      planId: 'team',
      interval: 'monthly',
      seats: 5,
      period: MONTH,
    });
    expect(invoice).toEqual({
      customerId: 'acme',
      reason: 'renewal',
      currency: 'EUR',
      periodStart: MONTH.start,
      periodEnd: MONTH.end,
      lines: [line('plan', 'Team plan (monthly)', '1', '29.00', '2900'), line('seats', '2 additional seats (monthly)', '2', '8.00', '1600')],
      totalMinor: '4500',
      idempotencyKey: 'invoice:acme:renewal:2025-03-01T00:00:00.000Z',
    });
  });

  it('yearly seats use the derived yearly seat price (8.00 × 12 × 85% = 81.60)', () => {
    expect(periodFeeLines({ catalog: seatsCatalog, planId: 'team', interval: 'yearly', seats: 6, period: YEAR })).toEqual([
      line('plan', 'Team plan (yearly)', '1', '295.80', '29580', YEAR),
      line('seats', '3 additional seats (yearly)', '3', '81.60', '24480', YEAR),
    ]);
  });

  it('yearly seats use an explicit yearly seat price (business: 72.00)', () => {
    expect(periodFeeLines({ catalog: seatsCatalog, planId: 'business', interval: 'yearly', seats: 12, period: YEAR })).toEqual([
      line('plan', 'Business plan (yearly)', '1', '1009.80', '100980', YEAR),
      line('seats', '2 additional seats (yearly)', '2', '72.00', '14400', YEAR),
    ]);
  });

  it('enterprise monthly with 40 seats: 15 extra × 6.00 EUR', () => {
    const invoice = draftInvoice({
      catalog: seatsCatalog,
      customerId: 'big',
      reason: 'subscription_create',
      planId: 'enterprise',
      interval: 'monthly',
      seats: 40,
      period: MONTH,
    });
    expect(invoice?.lines.map((l) => [l.kind, l.quantity, l.unitPrice, l.amountMinor])).toEqual([
      ['plan', '1', '499.00', '49900'],
      ['seats', '15', '6.00', '9000'],
    ]);
    expect(invoice?.totalMinor).toBe('58900');
  });
});

describe('draftInvoice', () => {
  it('Free has nothing to bill: no invoice', () => {
    for (const interval of ['monthly', 'yearly'] as const) {
      expect(draftInvoice({ catalog, customerId: 'c1', reason: 'renewal', planId: 'free', interval, seats: 1, period: MONTH })).toBeUndefined();
      expect(
        draftInvoice({ catalog: seatsCatalog, customerId: 'c1', reason: 'subscription_create', planId: 'free', interval, seats: 1, period: MONTH }),
      ).toBeUndefined();
    }
  });

  it('a monthly Pro renewal', () => {
    expect(draftInvoice({ catalog, customerId: 'cust_42', reason: 'renewal', planId: 'pro', interval: 'monthly', seats: 1, period: MONTH })).toEqual({
      customerId: 'cust_42',
      reason: 'renewal',
      currency: 'USD',
      periodStart: MONTH.start,
      periodEnd: MONTH.end,
      lines: [line('plan', 'Pro plan (monthly)', '1', '30.00', '3000')],
      totalMinor: '3000',
      idempotencyKey: 'invoice:cust_42:renewal:2025-03-01T00:00:00.000Z',
    });
  });

  it('a yearly Pro subscription start is 288.00', () => {
    const invoice = draftInvoice({ catalog, customerId: 'cust_42', reason: 'subscription_create', planId: 'pro', interval: 'yearly', seats: 1, period: YEAR });
    expect(invoice?.totalMinor).toBe('28800');
    expect(invoice?.periodEnd).toBe(YEAR.end);
    expect(invoice?.idempotencyKey).toBe('invoice:cust_42:subscription_create:2025-03-01T00:00:00.000Z');
  });

  it('Free with extra lines bills only the extra lines (zero lines are dropped)', () => {
    const overage = line('overage', '10,000 API calls over the limit', '10000', '0.0005', '500');
    const invoice = draftInvoice({ catalog, customerId: 'c1', reason: 'renewal', planId: 'free', interval: 'monthly', seats: 1, period: MONTH, extraLines: [overage] });
    expect(invoice?.lines).toEqual([overage]);
    expect(invoice?.totalMinor).toBe('500');
  });

  it('extra lines come after the fee lines and count in the total, credits included', () => {
    const overage = line('overage', '10,000 API calls over the limit', '10000', '0.0005', '500');
    const credit = line('credit', 'Credit for unused time', '1', '-12.34', '-1234');
    const zero = line('proration', 'Nothing', '1', '0', '0');
    const invoice = draftInvoice({
      catalog,
      customerId: 'c1',
      reason: 'renewal',
      planId: 'enterprise',
      interval: 'monthly',
      seats: 1,
      period: MONTH,
      extraLines: [overage, zero, credit],
    });
    expect(invoice?.lines.map((l) => l.kind)).toEqual(['plan', 'overage', 'credit']);
    expect(invoice?.totalMinor).toBe('9266');
  });

  it('the total is the sum of the lines (property)', () => {
    const extraLine = fc.record({
      kind: fc.constantFrom('overage' as const, 'credit' as const, 'proration' as const),
      amount: fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
    });
    fc.assert(
      fc.property(
        fc.constantFrom('team', 'business', 'enterprise', 'personal'),
        fc.constantFrom('monthly' as const, 'yearly' as const),
        fc.integer({ min: 1, max: 100 }),
        fc.array(extraLine, { maxLength: 5 }),
        (planId, interval, seats, extras) => {
          const period = periodOf(T0, interval, 30);
          const extraLines = extras.map((e) => line(e.kind, e.kind, '1', '0', e.amount.toString(), period));
          const invoice = draftInvoice({ catalog: seatsCatalog, customerId: 'c', reason: 'renewal', planId, interval, seats, period, extraLines });
          const expected = [...periodFeeLines({ catalog: seatsCatalog, planId, interval, seats, period }), ...extraLines].filter((l) => l.amountMinor !== '0');
          if (expected.length === 0) {
            expect(invoice).toBeUndefined();
            return;
          }
          expect(invoice?.lines).toEqual(expected);
          expect(invoice?.totalMinor).toBe(expected.reduce((sum, l) => sum + BigInt(l.amountMinor), 0n).toString());
          expect(BigInt(invoice?.totalMinor ?? 'x')).toBe(totalMinor(expected));
        },
      ),
    );
  });

  it('totalMinor adds rounded lines exactly, beyond Number precision', () => {
    expect(totalMinor([])).toBe(0n);
    expect(totalMinor([line('plan', 'a', '1', '0', '9007199254740993'), line('seats', 'b', '1', '0', '1')])).toBe(9_007_199_254_740_994n);
    expect(totalMinor([line('plan', 'a', '1', '0', '1000'), line('credit', 'b', '1', '0', '-1500')])).toBe(-500n);
  });
});

describe('invoice idempotency key', () => {
  it('is built from customer, reason and period start only', () => {
    expect(invoiceIdempotencyKey('acme', 'renewal', T0)).toBe('invoice:acme:renewal:2025-03-01T00:00:00.000Z');
    expect(invoiceIdempotencyKey('acme', 'subscription_create', T0)).toBe('invoice:acme:subscription_create:2025-03-01T00:00:00.000Z');
    expect(invoiceIdempotencyKey('acme', 'renewal', T0 + 1)).toBe('invoice:acme:renewal:2025-03-01T00:00:00.001Z');
  });

  it('is stable: the same renewal drafted twice, or with another plan, seats or extra lines, has the same key', () => {
    const a = draftInvoice({ catalog, customerId: 'acme', reason: 'renewal', planId: 'pro', interval: 'monthly', seats: 1, period: MONTH });
    const b = draftInvoice({ catalog, customerId: 'acme', reason: 'renewal', planId: 'pro', interval: 'monthly', seats: 1, period: MONTH });
    const c = draftInvoice({
      catalog,
      customerId: 'acme',
      reason: 'renewal',
      planId: 'enterprise',
      interval: 'monthly',
      seats: 1,
      period: MONTH,
      extraLines: [line('overage', 'x', '1', '1', '100')],
    });
    expect(a).toEqual(b);
    expect(a?.idempotencyKey).toBe('invoice:acme:renewal:2025-03-01T00:00:00.000Z');
    expect(c?.idempotencyKey).toBe(a?.idempotencyKey);
  });

  it('differs per customer, reason and period', () => {
    const key = (customerId: string, reason: 'renewal' | 'subscription_create', start: number) =>
      draftInvoice({ catalog, customerId, reason, planId: 'basic', interval: 'monthly', seats: 1, period: periodOf(start, 'monthly', 30) })?.idempotencyKey;
    const keys = [
      key('acme', 'renewal', T0),
      key('globex', 'renewal', T0),
      key('acme', 'subscription_create', T0),
      key('acme', 'renewal', T0 + 30 * DAY_MS),
    ];
    expect(new Set(keys).size).toBe(4);
    expect(keys[3]).toBe('invoice:acme:renewal:2025-03-31T00:00:00.000Z');
  });
});
