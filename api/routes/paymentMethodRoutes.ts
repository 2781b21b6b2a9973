/**
 * Links for the customer's browser, so it never needs a key of ours or Stripe's:
 * - `POST /v1/customers/:customerId/payment-method/checkout`: a Stripe Checkout page in setup mode
 *   (save a card, or replace the saved one) for the customer's Stripe customer;
 * - `POST /v1/customers/:customerId/billing-portal`: a Stripe billing-portal page (update the
 *   card, see invoices, change the billing address).
 * The operator's backend calls these with its API key and redirects the customer to the `url`.
 * What the customer then does comes back through Stripe's webhooks, not through these routes.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import Stripe from 'stripe';
import { z } from 'zod';
import { ensureProviderCustomer } from '../../activities/payments/providerCustomer.js';
import { PaymentConfigurationError, paymentKeys, type PaymentProvider } from '../../activities/payments/paymentProvider.js';
import type { Db } from '../../store/db.js';
import { ApiError, validationError } from '../errors.js';
import { operationIdOf } from '../idempotency.js';
import type { ReturnUrls } from '../payments/returnUrls.js';
import { customerParams, returnUrlSchema, SESSION_ID_TEMPLATE } from '../schemas.js';

export interface PaymentMethodRoutesDeps {
  db: Db;
  /** Absent or `none`: the routes answer 404 `payments_not_configured`. */
  payments?: PaymentProvider;
  /** Used when the request names no URL of its own. */
  returnUrls: ReturnUrls;
  logger?: Logger;
  now?: () => number;
}

export const SETUP_CHECKOUT_PATH = '/v1/customers/:customerId/payment-method/checkout';
export const BILLING_PORTAL_PATH = '/v1/customers/:customerId/billing-portal';

/** How long a Checkout page accepts a card (Stripe allows 30 minutes to 24 hours). */
export const CHECKOUT_LIFETIME_MS = 60 * 60 * 1000;
export const setupCheckoutBody = z.strictObject({
  successUrl: returnUrlSchema({ sessionTemplate: true }).optional()
    .describe(`Where Stripe sends the customer once the card is saved; \`${SESSION_ID_TEMPLATE}\` is replaced with the session id. Default: CHECKOUT_SUCCESS_URL, else this API's /checkout/complete page.`),
  cancelUrl: returnUrlSchema({ sessionTemplate: false }).optional()
    .describe('Where Stripe sends the customer who leaves without saving a card. Default: CHECKOUT_CANCEL_URL, else this API\'s /checkout/cancelled page.'),
});

export const billingPortalBody = z.strictObject({
  returnUrl: returnUrlSchema({ sessionTemplate: false }).optional()
    .describe('Where the portal\'s "return" link leads. Default: BILLING_PORTAL_RETURN_URL, else this API\'s /checkout/complete page.'),
});

function parsed<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'path'): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}

/** The body is optional: no body means every default (a `null` body is still refused). */
const bodyOf = <T>(schema: z.ZodType<T>, req: Request): T => parsed(schema, req.body === undefined ? {} : req.body, 'body');

export function paymentMethodRoutes(deps: PaymentMethodRoutesDeps): Router {
  const { db, returnUrls, logger } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  /** The provider, or 404 when this installation collects no payments. */
  function providerOf(): PaymentProvider {
    const payments = deps.payments;
    if (!payments || payments.name === 'none') {
      throw new ApiError(404, 'payments_not_configured', 'No payment provider is configured (PAYMENT_PROVIDER=none): there is no card to save and no billing portal. Set PAYMENT_PROVIDER=stripe.');
    }
    return payments;
  }

  /**
   * A provider call as the API answers its failures. A refusal no retry fixes (bad key, a request
   * Stripe does not accept) is a 502 whose message says nothing of Stripe's answer, which can
   * name account settings; the log has it. Stripe unreachable, rate limiting or failing is a 503
   * to retry.
   */
  async function atProvider<T>(what: string, customerId: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof PaymentConfigurationError) {
        logger?.warn({ err: error, customerId }, `payment provider refused to ${what}`);
        throw new ApiError(502, 'payment_provider_error', `The payment provider refused to ${what}. Nothing was charged; the API's log has the reason (often the Stripe key or the account's settings).`);
      }
      if (error instanceof Stripe.errors.StripeError) {
        logger?.warn({ err: error, customerId }, `payment provider unavailable to ${what}`);
        throw new ApiError(503, 'payment_provider_unavailable', `The payment provider could not be reached to ${what}; retry shortly. With the same Idempotency-Key a retry opens the same page.`, undefined, { 'retry-after': '5' });
      }
      throw error;
    }
  }

  /** The customer's provider customer (created on first need, as the payment activities do) and currency. */
  async function providerCustomerOf(payments: PaymentProvider, customerId: string): Promise<{ providerCustomerId: string; currency: string }> {
    const customer = await db.customer.findUnique({ where: { id: customerId }, select: { subscription: { select: { currency: true } } } });
    if (!customer?.subscription) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    const providerCustomerId = await atProvider('create the customer', customerId, () => ensureProviderCustomer(db, payments, customerId));
    if (providerCustomerId === null) throw new ApiError(404, 'customer_not_found', `No customer "${customerId}".`);
    return { providerCustomerId, currency: customer.subscription.currency };
  }

  /**
   * The Stripe idempotency key and expiry of this request's Checkout page. With an Idempotency-Key
   * the request is one operation however often it is retried (after a 503, a lost answer): the key
   * comes from its operation id and the expiry from when it was first received, so a retry sends
   * Stripe the very same parameters and gets the same session back rather than a second one (or
   * an idempotency error, had the expiry moved).
   */
  async function sessionIdentity(req: Request, res: Response, customerId: string): Promise<{ idempotencyKey: string; expiresAt: number }> {
    const operationId = operationIdOf(res);
    let startedAt = now();
    if (operationId !== undefined) {
      const key = req.get('idempotency-key');
      const record = key === undefined ? null : await db.idempotencyRecord.findUnique({ where: { key }, select: { createdAt: true } });
      if (record) startedAt = record.createdAt.getTime();
    }
    return {
      idempotencyKey: paymentKeys.setupCheckout(customerId, operationId ?? randomUUID()),
      // Stripe takes whole seconds; flooring here too keeps the parameters equal on a retry.
      expiresAt: Math.floor((startedAt + CHECKOUT_LIFETIME_MS) / 1000) * 1000,
    };
  }

  router.post(SETUP_CHECKOUT_PATH, async (req, res) => {
    const { customerId } = parsed(customerParams, req.params, 'path');
    const body = bodyOf(setupCheckoutBody, req);
    const payments = providerOf();
    const { providerCustomerId, currency } = await providerCustomerOf(payments, customerId);
    const { idempotencyKey, expiresAt } = await sessionIdentity(req, res, customerId);
    const session = await atProvider('open a Checkout page', customerId, () => payments.createCheckoutSession({
      customerId,
      providerCustomerId,
      mode: 'setup',
      currency,
      successUrl: body.successUrl ?? returnUrls.checkoutSuccess,
      cancelUrl: body.cancelUrl ?? returnUrls.checkoutCancel,
      expiresAt,
      idempotencyKey,
    }));
    if (!session.url) {
      // A hosted session always has one; without it there is nothing to send the customer to.
      logger?.warn({ customerId, sessionId: session.sessionId }, 'checkout session without a url');
      throw new ApiError(502, 'payment_provider_error', 'The payment provider opened a Checkout page without a URL to send the customer to.');
    }
    res.status(201).json({ url: session.url, sessionId: session.sessionId, expiresAt: new Date(session.expiresAt).toISOString() });
  });

  router.post(BILLING_PORTAL_PATH, async (req, res) => {
    const { customerId } = parsed(customerParams, req.params, 'path');
    const body = bodyOf(billingPortalBody, req);
    const payments = providerOf();
    const { providerCustomerId } = await providerCustomerOf(payments, customerId);
    // A portal session moves no money and lives minutes, so no idempotency key of ours is needed.
    const url = await atProvider('open the billing portal', customerId, () => payments.createPortalSession(providerCustomerId, body.returnUrl ?? returnUrls.portalReturn));
    res.status(201).json({ url });
  });

  return router;
}
