/**
 * The webhook outbox on the real PostgreSQL: a customer's events are numbered 1, 2, 3… without a
 * gap or a repeat however many transactions write at once; a rolled-back change leaves no event
 * (and no number used); a dedupe key writes its event once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pruneWebhookEvents, recordWebhookEvent } from '../../store/webhookOutbox.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

const sequencesOf = async (customerId: string) =>
  (await database.db.webhookEvent.findMany({ where: { customerId }, orderBy: { sequence: 'asc' } })).map((e) => Number(e.sequence));

it('numbers 40 concurrent events of one customer 1…40, and another customer from 1', async () => {
  await Promise.all(Array.from({ length: 40 }, (_, i) => database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-a', type: 'invoice.created', data: { i } }))));
  await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-b', type: 'invoice.created', data: {} }));
  expect(await sequencesOf('seq-a')).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  expect(await sequencesOf('seq-b')).toEqual([1]);
});

it('a rolled-back change leaves no event and no gap', async () => {
  await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-c', type: 'invoice.created', data: {} }));
  await expect(database.db.$transaction(async (tx) => {
    await recordWebhookEvent(tx, { customerId: 'seq-c', type: 'invoice.created', data: { lost: true } });
    throw new Error('the change failed');
  })).rejects.toThrow('the change failed');
  await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-c', type: 'invoice.paid', data: {} }));
  expect(await sequencesOf('seq-c')).toEqual([1, 2]);
  expect((await database.db.webhookEvent.findMany({ where: { customerId: 'seq-c' } })).map((e) => e.data)).not.toContainEqual({ lost: true });
});

it('a dedupe key writes its event once, without using a number again', async () => {
  for (let i = 0; i < 3; i++) {
    await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-d', type: 'invoice.payment_failed', data: {}, dedupeKey: 'failure:inv-1:attempt:1' }));
  }
  await database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId: 'seq-d', type: 'invoice.payment_failed', data: {}, dedupeKey: 'failure:inv-1:attempt:2' }));
  expect(await sequencesOf('seq-d')).toEqual([1, 2]);
});

it('prunes dispatched events past the retention whose deliveries are over, and keeps the rest', async () => {
  const write = (customerId: string) => database.db.$transaction((tx) => recordWebhookEvent(tx, { customerId, type: 'invoice.created', data: {} }));
  await write('prune-old');
  await write('prune-pending');
  await write('prune-new');
  await write('prune-undispatched');
  const old = new Date(Date.now() - 40 * 86_400_000);
  await database.db.webhookEvent.updateMany({ where: { customerId: { in: ['prune-old', 'prune-pending'] } }, data: { dispatchedAt: old } });
  await database.db.webhookEvent.updateMany({ where: { customerId: 'prune-new' }, data: { dispatchedAt: new Date() } });
  const endpoint = await database.db.webhookEndpoint.create({ data: { url: 'https://hooks.example/p', eventTypes: ['invoice.created'], secret: 'whsec_p' } });
  const events = await database.db.webhookEvent.findMany({ where: { customerId: { in: ['prune-old', 'prune-pending'] } } });
  for (const event of events) {
    await database.db.webhookDelivery.create({ data: { eventId: event.id, endpointId: endpoint.id, status: event.customerId === 'prune-old' ? 'delivered' : 'pending' } });
  }
  await pruneWebhookEvents(database.db, new Date(Date.now() - 30 * 86_400_000));
  const left = (await database.db.webhookEvent.findMany({ where: { customerId: { startsWith: 'prune-' } } })).map((e) => e.customerId).sort();
  expect(left).toEqual(['prune-new', 'prune-pending', 'prune-undispatched']);
  expect(await database.db.webhookDelivery.count({ where: { endpointId: endpoint.id } })).toBe(1);
  // The numbering stays: the next event of the pruned customer is 2.
  await write('prune-old');
  expect(await sequencesOf('prune-old')).toEqual([2]);
});
