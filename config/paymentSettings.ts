/**
 * Which payment provider moves money, and how to reach it. `none` (the default, for `npm start`
 * without keys) issues invoices and leaves them open for collection by other means; `stripe`
 * needs its keys, and a process that would need one refuses to start naming the missing one.
 */
import { z } from 'zod';

export const PAYMENT_PROVIDERS = ['none', 'stripe'] as const;
export type PaymentProviderName = (typeof PAYMENT_PROVIDERS)[number];

export const paymentSettingsShape = {
  PAYMENT_PROVIDER: z.enum(PAYMENT_PROVIDERS).default('none'),
  /** A secret (`sk_…`) or restricted (`rk_…`) key; test-mode keys for stripe-mock and `stripe listen`. */
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_… or sk_live_…)').optional(),
  /** The signing secret of the webhook endpoint (`whsec_…`), from the dashboard or `stripe listen`. */
  STRIPE_WEBHOOK_SECRET: z.string().regex(/^whsec_[A-Za-z0-9_+/=]+$/, 'must be a webhook signing secret (whsec_…)').optional(),
  /** Where the Stripe API answers: stripe-mock in tests, a proxy, or Stripe itself (the default). */
  STRIPE_API_BASE: z.url({ protocol: /^https?$/ }).default('https://api.stripe.com'),
  /** "on": Stripe Tax computes tax on mirrored invoices and Tollgate adds it as a tax line. */
  STRIPE_TAX: z.enum(['on', 'off']).default('off'),
};

export type PaymentSettings = z.output<z.ZodObject<typeof paymentSettingsShape>>;

/** Adds an issue for each key the chosen provider needs and the environment lacks. */
export function requirePaymentKeys(needs: ReadonlyArray<'STRIPE_SECRET_KEY' | 'STRIPE_WEBHOOK_SECRET'>) {
  return (settings: PaymentSettings, context: z.RefinementCtx) => {
    if (settings.PAYMENT_PROVIDER !== 'stripe') return;
    for (const key of needs) {
      if (!settings[key]) context.addIssue({ code: 'custom', path: [key], message: `is required when PAYMENT_PROVIDER=stripe` });
    }
  };
}

/** How stripe-node reaches STRIPE_API_BASE. */
export function stripeConnection(apiBase: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(apiBase);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}
