/**
 * A worker process killed (SIGKILL) in the middle of a burst of concurrent plan changes, cancels
 * and reactivations on one subscription, while its renewal falls due, then replaced: no answer is
 * a 500, a request answered `change_in_progress` or `temporal_unavailable` gets its change's first
 * answer when retried with its Idempotency-Key, and answers, invoices, history and read model agree
 * afterwards (test/harness/subscriptionInvariants.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { workerProcesses } from '../harness/workerProcess.js';
import { expectNoServerErrors, expectSubscriptionConsistent, send, type Answer, type Request } from '../harness/subscriptionInvariants.js';

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

const BURST: Request[] = [
  { kind: 'change', body: { plan: 'enterprise' } }, { kind: 'cancel' }, { kind: 'change', body: { plan: 'basic' } }, { kind: 'reactivate' },
  { kind: 'change', body: { interval: 'yearly' } }, { kind: 'change', body: { plan: 'pro' } }, { kind: 'cancel' }, { kind: 'reactivate' },
  { kind: 'change', body: { plan: 'enterprise' } }, { kind: 'change', body: { plan: 'free' } }, { kind: 'cancel' }, { kind: 'change', body: { interval: 'monthly' } },
];

it('a worker killed during a burst of changes racing the renewal: no 500, retries get first answers, everything agrees afterwards', async () => {
  const first = await startWorkerProcess();
  const customerId = `kill-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', {
    body: { id: customerId, name: 'Kill Co', email: 'kill@example.test', plan: 'pro', periodStart: new Date(Date.now() - 30 * DAY_MS + 3_000).toISOString() },
  });
  expect(created.status).toBe(201);
  const firstCycleStart = Date.parse(created.body.subscription.currentCycle.start);

  const burst = Promise.all(BURST.map(async (request, n) => {
    await new Promise((resolve) => setTimeout(resolve, n * 150));
    const key = randomUUID();
    const attempts: Answer[] = [await send(api.baseUrl, customerId, request, key)];
    // Accepted but not yet recorded, or Temporal unreachable: the key fetches the first answer.
    while (attempts.at(-1)!.status === 503 && attempts.length < 6) attempts.push(await send(api.baseUrl, customerId, request, key));
    return attempts;
  }));
  await new Promise((resolve) => setTimeout(resolve, 400));
  await workers.kill(first);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await startWorkerProcess();

  const attempts = await burst;
  for (const tries of attempts) {
    for (const early of tries.slice(0, -1)) expect(['change_in_progress', 'temporal_unavailable']).toContain(early.body?.error?.code);
  }
  const answers = attempts.map((tries) => tries.at(-1)!);
  expectNoServerErrors(answers);
  expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(0);
  await expectSubscriptionConsistent({ db: api.database.db, temporal: api.temporal, customerId, answers, renewedFrom: firstCycleStart, timeoutMs: 60_000 });
}, 180_000);
