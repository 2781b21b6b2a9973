/**
 * A change sent just after the worker that cached the subscription was killed (SIGKILL), then any
 * other event before the server gives up on that worker's sticky queue: the server's workflow task
 * for the change is stranded on the dead queue, with no timeout left to move it (see
 * api/temporal/strandedWorkflowTask.ts). The API frees it, so the change is answered once a
 * worker runs, and the subscription renews and changes again afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { workerProcesses } from '../harness/workerProcess.js';
import { expectSubscriptionConsistent, send } from '../harness/subscriptionInvariants.js';

let api: ApiHarness;
const workers = workerProcesses();
const startWorkerProcess = () => workers.start({ DATABASE_URL: api.database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: api.taskQueue });

beforeAll(async () => {
  api = await startApiHarness({ withWorker: false });
});
afterAll(async () => {
  workers.stopAll();
  await api?.close();
});

it('a change sent right after its worker was killed, then a signal: the change is still answered and applied once', async () => {
  const first = await startWorkerProcess();
  const customerId = `strand-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Strand Co', email: 'strand@example.test', plan: 'basic' } });
  expect(created.status).toBe(201);
  // The worker has run the workflow's tasks, so the server sends the next ones to its sticky queue.
  const upgrade = await send(api.baseUrl, customerId, { kind: 'change', body: { plan: 'pro' } });
  expect(upgrade.status).toBe(200);
  await workers.kill(first);

  const key = randomUUID();
  const change = send(api.baseUrl, customerId, { kind: 'change', body: { plan: 'enterprise' } }, key);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  // Any event turns the change's speculative task into an ordinary one (a signal no handler takes is buffered, harmless).
  await api.temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).signal('tollgate.test.nudge');
  await startWorkerProcess();

  const answers = [await change];
  // Each request waits 25 s for acceptance; the task is freed once its dead queue has been silent 75 s.
  while (answers.at(-1)!.status === 503 && answers.length < 8) answers.push(await send(api.baseUrl, customerId, { kind: 'change', body: { plan: 'enterprise' } }, key));
  expect(answers.at(-1)!.status).toBe(200);
  expect(answers.at(-1)!.body.subscription.plan.id).toBe('enterprise');
  await expectSubscriptionConsistent({ db: api.database.db, temporal: api.temporal, customerId, answers: [upgrade, answers.at(-1)!], timeoutMs: 30_000 });
  // And it keeps taking changes.
  expect((await send(api.baseUrl, customerId, { kind: 'cancel' })).status).toBe(200);
}, 280_000);
