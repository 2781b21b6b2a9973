/**
 * A Checkout page's expiry as sent to Stripe: the workflow's own deadline, kept within the window
 * Stripe accepts from real now (30 minutes to 24 hours). On real time the deadline (now + 23 h) goes
 * as it is; a subscription on a test clock, whose deadline may be years off real time, still gets
 * a page Stripe takes.
 */
import { expect, it } from 'vitest';
import { providerCheckoutExpiry } from '../../activities/paymentActivities.js';
import { CHECKOUT_WINDOW_MS } from '../../billing/paymentPolicy.js';

const NOW = Date.parse('2026-11-27T12:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

it('keeps a deadline inside Stripe\'s window as it is', () => {
  expect(providerCheckoutExpiry(NOW + CHECKOUT_WINDOW_MS, NOW)).toBe(NOW + CHECKOUT_WINDOW_MS);
  expect(providerCheckoutExpiry(NOW + 2 * HOUR, NOW)).toBe(NOW + 2 * HOUR);
});

it('moves a deadline too soon or already past (a clock behind real time) to 31 minutes from now', () => {
  expect(providerCheckoutExpiry(NOW + 10 * MINUTE, NOW)).toBe(NOW + 31 * MINUTE);
  expect(providerCheckoutExpiry(Date.parse('2020-01-01T00:00:00Z'), NOW)).toBe(NOW + 31 * MINUTE);
});

it('moves a deadline too far (a clock ahead of real time) to 23.5 hours from now', () => {
  expect(providerCheckoutExpiry(NOW + 25 * HOUR, NOW)).toBe(NOW + 23.5 * HOUR);
  expect(providerCheckoutExpiry(Date.parse('2027-06-01T00:00:00Z'), NOW)).toBe(NOW + 23.5 * HOUR);
});
