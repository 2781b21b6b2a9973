/**
 * The webhook outbox on the real PostgreSQL: a customer's events are numbered 1, 2, 3… without a
 * gap or a repeat however many transactions write at once; a rolled-back change leaves no event
 * (and no number used); a dedupe key writes its event once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordWebhookEvent } from '../../store/webhookOutbox.js';
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
