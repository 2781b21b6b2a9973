/** PAYMENT_PROVIDER and its keys: `none` by default; `stripe` refuses to start without the keys it needs, naming them. */
import { describe, expect, it } from 'vitest';
import { stripeConnection } from '../../config/paymentSettings.js';
import { loadApiSettings, loadWorkerSettings, SettingsError } from '../../config/settings.js';
import { createPaymentProvider } from '../../activities/payments/createPaymentProvider.js';

const base = { DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db', TOLLGATE_OPERATOR_KEY: 'operator-key-0123456789' };
const stripe = { PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_abc123', STRIPE_WEBHOOK_SECRET: 'whsec_abc123' };

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    if (error instanceof SettingsError) return error.message;
    throw error;
  }
  throw new Error('the settings were accepted');
}

describe('payment settings', () => {
  it('default to provider none, with Stripe\'s own API base and no tax', () => {
    const settings = loadWorkerSettings(base);
    expect(settings).toMatchObject({ PAYMENT_PROVIDER: 'none', STRIPE_API_BASE: 'https://api.stripe.com', STRIPE_TAX: 'off' });
    expect(createPaymentProvider(settings).name).toBe('none');
  });

  it('the worker refuses stripe without STRIPE_SECRET_KEY, saying which key', () => {
    expect(refusal(() => loadWorkerSettings({ ...base, PAYMENT_PROVIDER: 'stripe' }))).toMatch(/STRIPE_SECRET_KEY: is required when PAYMENT_PROVIDER=stripe/);
    expect(createPaymentProvider(loadWorkerSettings({ ...base, ...stripe, STRIPE_WEBHOOK_SECRET: undefined })).name).toBe('stripe');
  });

  it('the API refuses stripe without either key, naming each', () => {
    const message = refusal(() => loadApiSettings({ ...base, PAYMENT_PROVIDER: 'stripe' }));
    expect(message).toMatch(/STRIPE_SECRET_KEY: is required/);
    expect(message).toMatch(/STRIPE_WEBHOOK_SECRET: is required/);
    expect(refusal(() => loadApiSettings({ ...base, ...stripe, STRIPE_WEBHOOK_SECRET: undefined }))).toMatch(/STRIPE_WEBHOOK_SECRET/);
    expect(loadApiSettings({ ...base, ...stripe }).PAYMENT_PROVIDER).toBe('stripe');
  });

  it('test clocks: off by default; on with test keys or no provider; refused with live keys', () => {
    expect(loadApiSettings(base).TOLLGATE_TEST_CLOCKS).toBe(false);
    expect(loadApiSettings({ ...base, TOLLGATE_TEST_CLOCKS: 'true' }).TOLLGATE_TEST_CLOCKS).toBe(true);
    expect(loadApiSettings({ ...base, ...stripe, TOLLGATE_TEST_CLOCKS: 'true' }).TOLLGATE_TEST_CLOCKS).toBe(true);
    for (const key of ['sk_live_abc123', 'rk_live_abc123']) {
      expect(refusal(() => loadApiSettings({ ...base, ...stripe, STRIPE_SECRET_KEY: key, TOLLGATE_TEST_CLOCKS: 'true' }))).toMatch(/TOLLGATE_TEST_CLOCKS: test clocks are refused with live Stripe keys/);
    }
    expect(loadApiSettings({ ...base, ...stripe, STRIPE_SECRET_KEY: 'sk_live_abc123' }).TOLLGATE_TEST_CLOCKS).toBe(false);
  });

  it('refuses malformed keys, providers and URLs', () => {
    expect(refusal(() => loadWorkerSettings({ ...base, ...stripe, STRIPE_SECRET_KEY: 'pk_test_publishable' }))).toMatch(/STRIPE_SECRET_KEY: must be a Stripe secret key/);
    expect(refusal(() => loadApiSettings({ ...base, ...stripe, STRIPE_WEBHOOK_SECRET: 'secret' }))).toMatch(/STRIPE_WEBHOOK_SECRET/);
    expect(refusal(() => loadWorkerSettings({ ...base, PAYMENT_PROVIDER: 'paypal' }))).toMatch(/PAYMENT_PROVIDER/);
    expect(refusal(() => loadWorkerSettings({ ...base, ...stripe, STRIPE_API_BASE: 'ftp://stripe' }))).toMatch(/STRIPE_API_BASE/);
    expect(refusal(() => loadWorkerSettings({ ...base, ...stripe, STRIPE_TAX: 'yes' }))).toMatch(/STRIPE_TAX/);
  });

  it('reaches Stripe, stripe-mock or a proxy from STRIPE_API_BASE', () => {
    expect(stripeConnection('https://api.stripe.com')).toEqual({ host: 'api.stripe.com', port: 443, protocol: 'https' });
    expect(stripeConnection('http://127.0.0.1:12111')).toEqual({ host: '127.0.0.1', port: 12111, protocol: 'http' });
  });
});
