/**
 * A worker process killed (SIGKILL) in the middle of a burst of concurrent plan changes, cancels
 * and reactivations on one subscription, while its renewal falls due, then replaced: no answer is
 * a 500, a request answered `change_in_progress` or `temporal_unavailable` gets its change's first
 * answer when retried with its Idempotency-Key, and answers, invoices, history and read model agree
 * afterwards (test/harness/subscriptionInvariants.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { projectRoot } from '../../scripts/tools.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { expectNoServerErrors, expectSubscriptionConsistent, send, type Answer, type Request } from '../harness/subscriptionInvariants.js';

let api: ApiHarness;
const workers: ChildProcess[] = [];

/** A worker process exactly as `npm run worker` runs it; resolves once it polls. */
function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'worker', 'main.ts')], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: api.database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: api.taskQueue, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 60 s: ${output.slice(-2000)}`)), 60_000);
    const watch = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Tollgate worker running')) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data').resume();
        child.stderr?.removeAllListeners('data').resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the worker exited at start (${code}): ${output.slice(-2000)}`)); });
  });
}

beforeAll(async () => {
  api = await startApiHarness({ withWorker: false });
});

afterAll(async () => {
  for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
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
