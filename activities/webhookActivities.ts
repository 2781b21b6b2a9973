/**
 * Delivering a host's webhook (issue 12). Each attempt signs the event afresh (a new timestamp, so
 * a receiver's replay window holds), POSTs it under the alert webhooks' address rules, and records
 * the attempt and the delivery's state in one transaction. A 2xx delivers; anything else throws, so
 * Temporal retries (workflows/webhookDeliveryWorkflow.ts). A delivery already delivered is not sent
 * again by a repeated activity, but one whose answer was lost (the worker died after the POST) is:
 * receivers dedupe by the event id (`Tollgate-Event-Id`), as the README says.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { signatureHeader } from '../notifications/webhookSignature.js';
import type { WebhookPayload, WebhookEventType } from '../notifications/webhookEvents.js';
import { PermanentDeliveryError, type WebhookPoster } from '../notifications/senders.js';
import type { Db } from '../store/db.js';

export function createWebhookActivities(deps: { db: Db; poster: WebhookPoster; now?: () => number }) {
  const { db, poster } = deps;
  const now = deps.now ?? Date.now;

  return {
    async deliverWebhook(deliveryId: string): Promise<void> {
      const attempt = Context.current().info.attempt;
      const delivery = await db.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { event: true, endpoint: true } });
      if (!delivery) throw ApplicationFailure.nonRetryable(`no webhook delivery ${deliveryId}`, 'PermanentDeliveryError');
      if (delivery.status !== 'pending') return;
      const { event, endpoint } = delivery;
      if (endpoint.disabledAt) throw ApplicationFailure.nonRetryable('the endpoint was deleted', 'PermanentDeliveryError');
      const payload: WebhookPayload = {
        id: event.id,
        type: event.type as WebhookEventType,
        customerId: event.customerId,
        sequence: Number(event.sequence),
        createdAt: event.createdAt.toISOString(),
        data: event.data as Record<string, unknown>,
      };
      const body = JSON.stringify(payload);
      const at = now();
      const secrets = [endpoint.secret, ...(endpoint.previousSecret && endpoint.previousExpiresAt && endpoint.previousExpiresAt.getTime() > at ? [endpoint.previousSecret] : [])];
      const headers = {
        'tollgate-signature': signatureHeader(body, Math.floor(at / 1000), secrets),
        'tollgate-event-id': event.id,
        'tollgate-event-type': event.type,
        'tollgate-delivery-id': delivery.id,
      };
      const started = Date.now();
      let status: number | undefined;
      let failure: Error | undefined;
      try {
        status = (await poster.post(endpoint.url, body, headers)).status;
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
      }
      const ms = Date.now() - started;
      const delivered = status !== undefined && status >= 200 && status < 300;
      const error = delivered ? null : failure?.message ?? `the endpoint answered ${status}`;
      await db.$transaction([
        db.webhookAttempt.upsert({
          where: { deliveryId_attempt: { deliveryId, attempt } },
          create: { deliveryId, attempt, status: status ?? null, error, ms },
          update: { status: status ?? null, error, ms, at: new Date() },
        }),
        db.webhookDelivery.updateMany({
          where: { id: deliveryId, status: 'pending' },
          data: { attempts: attempt, lastStatus: status ?? null, lastError: error, ...(delivered ? { status: 'delivered', deliveredAt: new Date(at) } : {}) },
        }),
      ]);
      if (delivered) return;
      if (failure instanceof PermanentDeliveryError) throw ApplicationFailure.nonRetryable(failure.message, 'PermanentDeliveryError');
      throw ApplicationFailure.retryable(error!, 'WebhookNotAccepted');
    },

    /** After the last attempt (or a refusal for good): the delivery is failed; a redelivery may be asked for. */
    async markWebhookFailed(deliveryId: string, reason: string): Promise<void> {
      await db.webhookDelivery.updateMany({ where: { id: deliveryId, status: 'pending' }, data: { status: 'failed', lastError: reason } });
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
