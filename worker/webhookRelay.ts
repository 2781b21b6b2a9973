/**
 * Turns the webhook outbox (store/webhookOutbox.ts) into deliveries, in two steps:
 *  1. each new event gets a delivery row per enabled endpoint subscribed to its type, and is
 *     marked dispatched, in one transaction;
 *  2. each delivery not started yet (these, and redeliveries the API asked for) gets its workflow,
 *     started only once its row is committed (so the activity finds it), with the delivery's id in
 *     the workflow id and duplicates refused, then is marked started.
 * A crash between any two steps repeats only what is safe to repeat: rows are unique per event,
 * endpoint and round, and a workflow id is started once. Rows are claimed with SKIP LOCKED, so
 * several workers share the work.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Db } from '../store/db.js';
import { pruneWebhookEvents, WEBHOOK_RETENTION_MS } from '../store/webhookOutbox.js';
import { webhookDeliveryWorkflowId } from '../workflows/messages.js';

async function dispatchEvents(db: Db, batch: number): Promise<number> {
  return db.$transaction(async (tx) => {
    const events = await tx.$queryRaw<Array<{ id: string; type: string }>>`
      SELECT id::text, type FROM webhook_events WHERE dispatched_at IS NULL ORDER BY created_at LIMIT ${batch} FOR UPDATE SKIP LOCKED`;
    if (events.length === 0) return 0;
    const endpoints = await tx.webhookEndpoint.findMany({ where: { disabledAt: null }, select: { id: true, eventTypes: true } });
    const rows = events.flatMap((event) => endpoints.filter((endpoint) => endpoint.eventTypes.includes(event.type)).map((endpoint) => ({ eventId: event.id, endpointId: endpoint.id })));
    if (rows.length > 0) await tx.webhookDelivery.createMany({ data: rows, skipDuplicates: true });
    await tx.webhookEvent.updateMany({ where: { id: { in: events.map((e) => e.id) } }, data: { dispatchedAt: new Date() } });
    return events.length;
  }, { timeout: 60_000 });
}

async function startDeliveries(db: Db, temporal: Client, taskQueue: string, batch: number): Promise<number> {
  return db.$transaction(async (tx) => {
    const pending = await tx.$queryRaw<Array<{ id: string }>>`
      SELECT id::text FROM webhook_deliveries WHERE started_at IS NULL ORDER BY created_at LIMIT ${batch} FOR UPDATE SKIP LOCKED`;
    for (const { id } of pending) {
      try {
        await temporal.workflow.start('webhookDeliveryWorkflow', { taskQueue, workflowId: webhookDeliveryWorkflowId(id), args: [{ deliveryId: id }], workflowIdReusePolicy: 'REJECT_DUPLICATE' });
      } catch (error) {
        // Started before a crash kept it from being marked: it runs (or ran) once.
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
    }
    if (pending.length > 0) await tx.webhookDelivery.updateMany({ where: { id: { in: pending.map((p) => p.id) } }, data: { startedAt: new Date() } });
    return pending.length;
  }, { timeout: 60_000 });
}

const PRUNE_EVERY_MS = 60_000;
let prunedAt = 0;

/**
 * Dispatches up to `batch` new events and starts up to `batch` deliveries; returns how many of
 * both. About once a minute also deletes what is past the retention (WEBHOOK_RETENTION_MS).
 */
export async function relayWebhooksOnce(db: Db, temporal: Client, taskQueue: string, batch = 100): Promise<number> {
  const dispatched = await dispatchEvents(db, batch);
  const started = await startDeliveries(db, temporal, taskQueue, batch);
  if (Date.now() - prunedAt >= PRUNE_EVERY_MS) {
    prunedAt = Date.now();
    await pruneWebhookEvents(db, new Date(Date.now() - WEBHOOK_RETENTION_MS));
  }
  return dispatched + started;
}
