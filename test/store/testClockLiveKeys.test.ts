/**
 * A customer on a test clock is never charged with live payment keys (issue 14): every charge,
 * Checkout page and refund of a customer first finds its provider customer
 * (activities/payments/providerCustomer.ts), which refuses for a clock customer when the provider
 * moves real money, whatever the API's settings said. Test-mode keys serve it as usual.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../config/loadCatalog.js';
import { ensureProviderCustomer } from '../../activities/payments/providerCustomer.js';
import { PaymentConfigurationError, type PaymentProvider } from '../../activities/payments/paymentProvider.js';
import { StripePaymentProvider } from '../../activities/payments/stripePaymentProvider.js';
import { insertCustomer } from '../../store/customerStore.js';
import { createTestClock } from '../../store/testClockStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let database: TestDatabase;
const catalog = loadCatalog();

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

/** A provider that records the customers it was asked to create. */
function provider(live: boolean): PaymentProvider & { created: string[] } {
  const created: string[] = [];
  return {
    name: 'stripe',
    live,
    created,
    createCustomer: async (customer: { customerId: string }) => {
      created.push(customer.customerId);
      return `cus_${customer.customerId.replace(/[^A-Za-z0-9]/g, '')}`;
    },
  } as unknown as PaymentProvider & { created: string[] };
}

it('refuses a clock customer with live keys, before any provider call; serves it with test keys, and real-time customers with either', async () => {
  const clock = await createTestClock(database.db, { frozenTime: Date.parse('2027-01-01T00:00:00Z') });
  const input = (customerId: string, onClock: boolean) => newSubscriptionInput({
    catalog, customerId, planId: 'pro', interval: 'monthly', seats: 1, now: clock.frozenTime,
    ...(onClock ? { testClock: { id: clock.id, now: clock.frozenTime, target: clock.frozenTime } } : {}),
  });
  await insertCustomer(database.db, { id: 'on-clock', name: 'Clock', email: 'clock@test' }, input('on-clock', true));
  await insertCustomer(database.db, { id: 'real-time', name: 'Real', email: 'real@test' }, input('real-time', false));

  const live = provider(true);
  await expect(ensureProviderCustomer(database.db, live, 'on-clock')).rejects.toBeInstanceOf(PaymentConfigurationError);
  expect(live.created).toEqual([]);
  expect(await ensureProviderCustomer(database.db, live, 'real-time')).toBe('cus_realtime');

  const test = provider(false);
  expect(await ensureProviderCustomer(database.db, test, 'on-clock')).toBe('cus_onclock');
  // Once it has a provider customer, live keys are still refused for it.
  await expect(ensureProviderCustomer(database.db, live, 'on-clock')).rejects.toThrow(/test clock/);
});

it('tells live keys from test keys', () => {
  const of = (secretKey: string) => new StripePaymentProvider({ secretKey, apiBase: 'http://127.0.0.1:1', automaticTax: false }).live;
  expect([of('sk_live_abc'), of('rk_live_abc'), of('sk_test_abc'), of('rk_test_abc')]).toEqual([true, true, false, false]);
});
