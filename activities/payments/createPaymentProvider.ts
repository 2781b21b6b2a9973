/** The payment provider the settings name (config/paymentSettings.ts checked its keys at start). */
import type { PaymentSettings } from '../../config/paymentSettings.js';
import { NoPaymentProvider } from './noPaymentProvider.js';
import type { PaymentProvider } from './paymentProvider.js';
import { StripePaymentProvider } from './stripePaymentProvider.js';

export function createPaymentProvider(settings: PaymentSettings): PaymentProvider {
  if (settings.PAYMENT_PROVIDER === 'none') return new NoPaymentProvider();
  if (!settings.STRIPE_SECRET_KEY) throw new Error('STRIPE_SECRET_KEY is required when PAYMENT_PROVIDER=stripe');
  return new StripePaymentProvider({ secretKey: settings.STRIPE_SECRET_KEY, apiBase: settings.STRIPE_API_BASE, automaticTax: settings.STRIPE_TAX === 'on' });
}
