import { describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG_PATH, loadCatalog } from '../../config/loadCatalog.js';
import { currentDetailsOf } from '../../workflows/operatorSummary.js';
import type { SubscriptionSnapshot } from '../../workflows/messages.js';

const catalog = loadCatalog(DEFAULT_CATALOG_PATH);
const at = (day: string) => Date.parse(`${day}T00:00:00Z`);
const state = (overrides: Partial<SubscriptionSnapshot> = {}): SubscriptionSnapshot => ({
  customerId: 'acme', planId: 'pro', interval: 'monthly', seats: 1, status: 'active', currency: 'USD',
  periodStart: at('2026-11-20'), periodEnd: at('2026-12-20'), cycleStart: at('2026-11-20'), cycleEnd: at('2026-12-20'),
  cancelAtPeriodEnd: false, creditOwedMinor: '0', version: 3, cycleNumber: 0, downgradesThisCycle: 0,
  pendingPlanId: null, pendingSeats: null, pendingInterval: null, payment: null, ...overrides,
});

describe('what the Temporal UI shows of a subscription', () => {
  it('details: customer, plan with its name, interval, status and renewal date, one per line', () => {
    expect(currentDetailsOf(state(), catalog)).toBe([
      '**Customer** acme',
      '**Plan** Pro (pro), monthly',
      '**Status** active; renews 2026-12-20',
      '**Cycle** 1: 2026-11-20 → 2026-12-20',
    ].join('  \n'));
  });

  it('a scheduled cancellation says when it ends; seats, scheduled changes and awaited payments are shown', () => {
    const details = currentDetailsOf(state({
      status: 'cancel_scheduled', cancelAtPeriodEnd: true, seats: 4, pendingPlanId: 'basic', pendingInterval: 'yearly', pendingSeats: 2,
      payment: { reason: 'past_due', invoiceNumber: 'INV-000007', payUrl: null, until: null },
    }), catalog);
    expect(details).toContain('**Plan** Pro (pro), monthly, 4 seats');
    expect(details).toContain('**Status** cancellation scheduled; ends 2026-12-20');
    expect(details).toContain('**Scheduled** plan Basic, yearly billing, 2 seats from 2026-12-20');
    expect(details).toContain('**Payment** waiting: past_due, invoice INV-000007');
  });

  it('a plan the catalog no longer has is shown by its id', () => {
    expect(currentDetailsOf(state({ planId: 'legacy' }), catalog)).toContain('**Plan** legacy (legacy), monthly');
  });
});
