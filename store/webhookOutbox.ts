/**
 * The webhook outbox: an event is written in the same transaction as the change it reports, so a
 * committed change always has its event and a rolled-back one never does. Each customer's events
 * are numbered 1, 2, 3… through a counter row whose lock orders them by commit. The worker's relay
 * (worker/webhookRelay.ts) turns them into deliveries.
 */
import type { WebhookEventType } from '../notifications/webhookEvents.js';
import type { Tx } from './invoiceStore.js';

export async function recordWebhookEvent(tx: Tx, event: { customerId: string; type: WebhookEventType; data: Record<string, unknown> }): Promise<void> {
  const [row] = await tx.$queryRaw<Array<{ last: bigint }>>`
    INSERT INTO webhook_sequences (customer_id, last) VALUES (${event.customerId}, 1)
    ON CONFLICT (customer_id) DO UPDATE SET last = webhook_sequences.last + 1
    RETURNING last`;
  await tx.webhookEvent.create({ data: { customerId: event.customerId, sequence: row!.last, type: event.type, data: event.data as object } });
}
