/**
 * The webhook outbox: an event is written in the same transaction as the change it reports, so a
 * committed change always has its event and a rolled-back one never does. Each customer's events
 * are numbered 1, 2, 3… through a counter row whose lock orders them by commit. The worker's relay
 * (worker/webhookRelay.ts) turns them into deliveries.
 */
import type { WebhookEventType } from '../notifications/webhookEvents.js';
import type { Db } from './db.js';
import type { Tx } from './invoiceStore.js';

export async function recordWebhookEvent(tx: Tx, event: { customerId: string; type: WebhookEventType; data: Record<string, unknown>; /** Written once per key: for facts a retried step could report again. */ dedupeKey?: string }): Promise<void> {
  // Looked up before a number is taken, so a repeat leaves no gap in the customer's sequence. Two
  // at once both pass here; the unique key fails the second transaction, which is retried.
  if (event.dedupeKey && (await tx.webhookEvent.findUnique({ where: { dedupeKey: event.dedupeKey }, select: { id: true } }))) return;
  // One statement (a renewal writes this while it holds the invoice-number lock: every round trip counts).
  await tx.$executeRaw`
    WITH numbered AS (
      INSERT INTO webhook_sequences (customer_id, last) VALUES (${event.customerId}, 1)
      ON CONFLICT (customer_id) DO UPDATE SET last = webhook_sequences.last + 1
      RETURNING last)
    INSERT INTO webhook_events (customer_id, sequence, type, data, dedupe_key)
    SELECT ${event.customerId}, last, ${event.type}, ${JSON.stringify(event.data)}::jsonb, ${event.dedupeKey ?? null} FROM numbered`;
}

/** The same for many customers' first events at once (a bulk import): one event each. */
export async function recordWebhookEventsOfEach(tx: Tx, type: WebhookEventType, events: ReadonlyArray<{ customerId: string; data: Record<string, unknown> }>): Promise<void> {
  if (events.length === 0) return;
  const numbered = await tx.$queryRawUnsafe<Array<{ customer_id: string; last: bigint }>>(
    `INSERT INTO webhook_sequences (customer_id, last) SELECT unnest($1::text[]), 1
     ON CONFLICT (customer_id) DO UPDATE SET last = webhook_sequences.last + 1
     RETURNING customer_id, last`,
    events.map((e) => e.customerId),
  );
  const sequenceOf = new Map(numbered.map((row) => [row.customer_id, row.last]));
  await tx.$executeRawUnsafe(
    `INSERT INTO webhook_events (customer_id, sequence, type, data)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[])`,
    events.map((e) => e.customerId),
    events.map((e) => sequenceOf.get(e.customerId)!.toString()),
    events.map(() => type),
    events.map((e) => JSON.stringify(e.data)),
  );
}

/**
 * When a customer's creation is undone (its workflow could not be started): its events and its
 * numbering go too, so the host is told nothing of it (unless a delivery already went out in
 * between; deleting its row stops any attempt not yet made). The numbering stays, so a customer
 * created again with the id goes on from it (a receiver that saw the first never sees an old number).
 */
export async function forgetWebhookEvents(tx: Tx, customerIds: readonly string[]): Promise<void> {
  await tx.webhookEvent.deleteMany({ where: { customerId: { in: [...customerIds] } } });
}

/** How long a dispatched event (with its deliveries and their attempts) is kept: the delivery log's reach. */
export const WEBHOOK_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Deletes events dispatched before `before` whose deliveries are all over (delivered or failed),
 * with their deliveries and attempts (cascade), at most `batch` at a time; returns how many.
 * The numbering (webhook_sequences) stays, so a customer's sequence never restarts.
 */
export async function pruneWebhookEvents(db: Db, before: Date, batch = 1_000): Promise<number> {
  return db.$executeRaw`
    DELETE FROM webhook_events WHERE id IN (
      SELECT e.id FROM webhook_events e
      WHERE e.dispatched_at < ${before}
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
      LIMIT ${batch})`;
}
