/**
 * `POST /v1/stripe/webhooks`: Stripe's events, verified on the exact bytes sent (signature and a
 * five-minute tolerance), stored by event id and handed to the customer's subscription workflow as
 * a signal; the workflow decides what they mean. Outside the API key (Stripe signs instead).
 *
 * Processed once: the event row is written before the signal and marked once the signal went
 * through. A redelivery of a marked event is answered at once; one whose signal failed (answered
 * 503, so Stripe redelivers) is signalled again, and the workflow drops an id it has seen.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Router } from 'express';
import type { Logger } from 'pino';
import Stripe from 'stripe';
import { Prisma } from '../../generated/prisma/client.js';
import type { Db } from '../../store/db.js';
import { paymentEventSignal, subscriptionWorkflowId } from '../../workflows/messages.js';
import { ApiError } from '../errors.js';
import { readRaw } from '../http/readJsonBody.js';
import { usedStripeEvent } from '../payments/stripeEvents.js';

export const STRIPE_WEBHOOK_PATH = '/v1/stripe/webhooks';
/** Stripe's own default: an event signed longer ago than this is refused (replayed capture). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;
const WEBHOOK_BODY_LIMIT = 1024 * 1024;

export interface StripeWebhookDeps {
  db: Db;
  temporal: Client;
  logger: Logger;
  /** Absent when PAYMENT_PROVIDER is not stripe: the route then answers 404. */
  stripeWebhookSecret?: string;
  now?: () => number;
}

export function stripeWebhookRoutes(deps: StripeWebhookDeps): Router {
  const { db, temporal, logger } = deps;
  const router = Router();

  router.post(STRIPE_WEBHOOK_PATH, async (req, res) => {
    const secret = deps.stripeWebhookSecret;
    if (!secret) throw new ApiError(404, 'payments_not_configured', 'Stripe webhooks are not enabled: set PAYMENT_PROVIDER=stripe and STRIPE_WEBHOOK_SECRET.');
    const signature = req.headers['stripe-signature'];
    if (typeof signature !== 'string' || signature.length === 0) throw new ApiError(400, 'invalid_signature', 'The Stripe-Signature header is missing.');
    const raw = await readRaw(req, WEBHOOK_BODY_LIMIT);
    let event: Stripe.Event;
    try {
      const receivedAt = deps.now ? Math.floor(deps.now() / 1000) : undefined;
      // Pure HMAC over the raw bytes: no API key or network involved.
      event = Stripe.webhooks.constructEvent(raw, signature, secret, WEBHOOK_TOLERANCE_SECONDS, undefined, receivedAt);
    } catch (error) {
      // Signed by Stripe but not an event we can read (the signature is checked before parsing).
      if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) throw new ApiError(400, 'invalid_json', 'The signed body is not a JSON Stripe event.');
      const message = error.message;
      const stale = /tolerance/i.test(message);
      throw new ApiError(400, 'invalid_signature', stale
        ? `The event was signed more than ${WEBHOOK_TOLERANCE_SECONDS} seconds ago.`
        : 'The Stripe-Signature does not match the body and the endpoint secret.');
    }

    const used = usedStripeEvent(event);
    if (!used) {
      res.json({ received: true, used: false });
      return;
    }
    // By Tollgate's id in metadata, else by Stripe's customer: one lookup either way.
    const where = used.customerId !== undefined ? { id: used.customerId } : used.providerCustomerId ? { providerCustomerId: used.providerCustomerId } : undefined;
    const customer = where ? await db.customer.findUnique({ where, select: { id: true, providerCustomerId: true } }) : null;
    // Metadata and Stripe's customer must agree: an object of one Stripe customer never acts on another Tollgate customer.
    const mismatched = customer?.providerCustomerId && used.providerCustomerId && customer.providerCustomerId !== used.providerCustomerId;
    if (!customer || mismatched) {
      // Not one of ours (another app on the same Stripe account): acknowledged, nothing to do.
      logger.info({ eventId: event.id, type: event.type }, 'stripe event for no known customer');
      res.json({ received: true, used: false });
      return;
    }

    await db.paymentEvent.createMany({
      data: [{ provider: 'stripe', id: event.id, type: event.type, customerId: customer.id, payload: JSON.parse(raw.toString('utf8')) as Prisma.InputJsonValue }],
      skipDuplicates: true,
    });
    const stored = await db.paymentEvent.findUniqueOrThrow({ where: { provider_id: { provider: 'stripe', id: event.id } } });
    if (stored.signaledAt) {
      res.json({ received: true, used: true, duplicate: true });
      return;
    }
    try {
      await temporal.workflow.getHandle(subscriptionWorkflowId(customer.id)).signal(paymentEventSignal, used.event);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        // Its subscription is gone: nothing will ever take it, so redelivering cannot help.
        logger.error({ eventId: event.id, customerId: customer.id }, 'stripe event for a customer whose subscription is not running');
        res.json({ received: true, used: false });
        return;
      }
      logger.warn({ err: error, eventId: event.id }, 'could not hand the stripe event to the subscription; Stripe will redeliver it');
      throw new ApiError(503, 'temporal_unavailable', 'The event could not be handed to the subscription yet; redeliver it.');
    }
    await db.paymentEvent.updateMany({ where: { provider: 'stripe', id: event.id, signaledAt: null }, data: { signaledAt: new Date() } });
    res.json({ received: true, used: true });
  });
  return router;
}
