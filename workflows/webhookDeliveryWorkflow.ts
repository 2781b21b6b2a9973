/**
 * One webhook delivery (issue 12): the activity POSTs the signed event and is retried with backoff
 * (5 s, doubling, at most an hour apart) for up to three days; a delivery that never gets a 2xx by
 * then, or whose endpoint is refused for good, is marked failed. Started by the worker's relay (or
 * a redelivery request) with the delivery's id in the workflow id, so it runs once per delivery.
 */
import { ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhookActivities.js';

// An attempt is one POST bounded at 10 s (notifications/senders.ts): 15 s to start-to-close
// means a worker that died mid-POST is noticed, and the attempt retried, 15 s later.
const attempts = proxyActivities<Pick<WebhookActivities, 'deliverWebhook'>>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 hour', nonRetryableErrorTypes: ['PermanentDeliveryError'] },
});
const bookkeeping = proxyActivities<Pick<WebhookActivities, 'markWebhookFailed'>>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function webhookDeliveryWorkflow(input: { deliveryId: string }): Promise<'delivered' | 'failed'> {
  try {
    await attempts.deliverWebhook(input.deliveryId);
    return 'delivered';
  } catch (error) {
    if (!(error instanceof ActivityFailure)) throw error;
    await bookkeeping.markWebhookFailed(input.deliveryId, error.cause?.message ?? error.message);
    return 'failed';
  }
}
