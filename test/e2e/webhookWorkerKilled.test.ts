/**
 * A worker process killed (SIGKILL) while it POSTs a webhook: another worker delivers it. The
 * receiver holds the first POST open, the worker dies with it unanswered, and once its attempt
 * times out the next worker's attempt is answered: the delivery ends `delivered`. The receiver saw
 * the event twice (the first POST did arrive): deliveries are at least once, and receivers dedupe by
 * the event id, as the README says.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { recordWebhookEvent } from '../../store/webhookOutbox.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { startHttpReceiver, type HttpReceiver } from '../harness/receivers.js';
import { workerProcesses } from '../harness/workerProcess.js';

let database: TestDatabase;
let receiver: HttpReceiver;
const workers = workerProcesses();
const env = () => ({
  DATABASE_URL: database.url,
  TEMPORAL_ADDRESS: inject('temporalAddress'),
  TEMPORAL_TASK_QUEUE: `webhook-kill-${randomUUID()}`,
  WEBHOOK_ENDPOINTS_ALLOW_HTTP: 'true',
  WEBHOOK_ENDPOINTS_ALLOW_PRIVATE_NETWORKS: 'true',
});

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await startHttpReceiver();
});
afterAll(async () => {
  workers.stopAll();
  await receiver?.close();
  await database?.close();
});

it('a worker killed mid-delivery: the next worker delivers it', async () => {
  const settings = env();
  const endpoint = await database.db.webhookEndpoint.create({ data: { url: `${receiver.baseUrl}/hooks`, eventTypes: ['invoice.created'], secret: 'whsec_test' } });
  const held = receiver.holdNext();
  await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'kill-co', type: 'invoice.created', data: { number: 'INV-000777' } }));
  const first = await workers.start(settings);
  await held.arrived;
  await workers.kill(first);
  held.release();
  await workers.start(settings);
  const delivery = await eventually(async () => {
    const row = await database.db.webhookDelivery.findFirst({ where: { endpointId: endpoint.id }, include: { attemptLog: true } });
    return row?.status === 'delivered' ? row : undefined;
  }, 60_000);
  // The dead worker's attempt never recorded its answer; the next one did.
  expect(delivery.attemptLog.map((a) => a.status)).toEqual([200]);
  expect(delivery.attempts).toBeGreaterThanOrEqual(2);
  const ids = receiver.attempts.map((a) => a.headers['tollgate-event-id']);
  expect(new Set(ids).size).toBe(1);
  expect(ids.length).toBe(2);
});
