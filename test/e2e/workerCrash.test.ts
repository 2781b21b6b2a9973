/**
 * A worker process killed (SIGKILL) in the middle of a renewal, then restarted: the renewal
 * completes and exactly one invoice exists for the period.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { insertCustomer } from '../../store/customerStore.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { workerProcesses } from '../harness/workerProcess.js';

let database: TestDatabase;
let connection: Connection;
let client: Client;
const taskQueue = `crash-${randomUUID()}`;
const workers = workerProcesses();

const startWorker = () => workers.start({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue });

beforeAll(async () => {
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});

afterAll(async () => {
  workers.stopAll();
  await connection?.close();
  await database?.close();
});

it('a worker killed during a renewal is replaced and exactly one invoice exists for the period', async () => {
  const catalog = loadCatalog();
  const customerId = `crash-${randomUUID().slice(0, 8)}`;
  // An imported Pro customer whose period ends in 6 seconds (time for the worker to boot).
  const now = Date.now();
  const input = newSubscriptionInput({ catalog, customerId, planId: 'pro', interval: 'monthly', seats: 1, importedPeriodStart: now - 30 * DAY_MS + 6_000, now });
  await insertCustomer(database.db, { id: customerId, name: 'Crash Co', email: 'ops@crash.test' }, input);
  const handle = await startSubscriptionWorkflow(client, taskQueue, input);

  const first = await startWorker();
  // Kill the worker as soon as the renewal has written its invoice: the write is a local activity
  // (LOCAL_RENEWAL_PATCH), so the worker dies before the task that ran it completes, and the next
  // worker runs it again over the same state.
  await eventually(async () => {
    const { raw } = await handle.describe();
    const started = raw.pendingActivities?.some((a) => a.activityType?.name === 'recordRenewal');
    const written = (await database.db.invoice.count({ where: { customerId } })) > 0;
    return started || written;
  }, 60_000, 20);
  await workers.kill(first);

  await startWorker();
  const renewed = await eventually(async () => {
    const row = await database.db.subscription.findUniqueOrThrow({ where: { customerId } });
    if (row.periodStart.getTime() !== input.periodEnd) throw new Error('not renewed yet');
    return row;
  }, 60_000, 200);
  expect(renewed.planId).toBe('pro');

  const invoices = await database.db.invoice.findMany({ where: { customerId } });
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ reason: 'renewal', totalMinor: 3000n });
  expect(invoices[0]!.periodStart.getTime()).toBe(input.periodEnd);

  // The workflow went on to its next cycle (continue-as-new) and is waiting again.
  const description = await eventually(async () => {
    const d = await handle.describe();
    if (d.runId === handle.firstExecutionRunId) throw new Error('still the first run');
    return d;
  });
  expect(description.status.name).toBe('RUNNING');
}, 120_000);
