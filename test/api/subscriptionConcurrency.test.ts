/**
 * Model-based concurrency test against the real API, worker, PostgreSQL and Temporal dev server:
 * fast-check generates a subscription and a burst of concurrent requests on it (plan and interval
 * changes, cancel, reactivate, usage that crosses alert thresholds, repeats with the same
 * Idempotency-Key, at once or after a lost answer), optionally racing the renewal at the cycle
 * end. Afterwards no answer may be a 5xx, and the answers, the database and the workflow's own
 * history must agree (test/harness/subscriptionInvariants.ts lists what that means).
 *
 * TOLLGATE_MODEL_RUNS sets the number of cases (default 8).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DAY_MS } from '../../billing/period.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { expectNoServerErrors, expectSubscriptionConsistent, forgetAnswer, send, type Answer, type Request } from '../harness/subscriptionInvariants.js';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

interface Case {
  plan: 'free' | 'basic' | 'pro' | 'enterprise';
  yearly: boolean;
  /** The current cycle ends this long after the customer is created (the renewal races the burst), or never during the case. */
  renewalInMs: number | undefined;
  /** All requests at the same instant, rather than spread over their delays. */
  burst: boolean;
  /** `concurrent`: the same key sent twice at once; `lostAnswer`: sent again after the API lost the first answer. */
  requests: Array<{ request: Request; delayMs: number; repeat: 'none' | 'concurrent' | 'lostAnswer' }>;
}

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('free', 'basic', 'pro', 'enterprise').map((plan): Request => ({ kind: 'change', body: { plan } })) },
  { weight: 1, arbitrary: fc.constantFrom('monthly' as const, 'yearly' as const).map((interval): Request => ({ kind: 'change', body: { interval } })) },
  { weight: 2, arbitrary: fc.constant<Request>({ kind: 'cancel' }) },
  { weight: 2, arbitrary: fc.constant<Request>({ kind: 'reactivate' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 450 }).map((quantity): Request => ({ kind: 'usage', quantity })) },
  // Enough to pass Enterprise's 1,000,000 included calls: the renewal then bills overage, against credit owed.
  { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 1_050_000 }).map((quantity): Request => ({ kind: 'usage', quantity })) },
);

const caseArb: fc.Arbitrary<Case> = fc.record({
  plan: fc.constantFrom('free', 'basic', 'pro', 'enterprise'),
  yearly: fc.boolean(),
  renewalInMs: fc.option(fc.integer({ min: 500, max: 2_000 }), { nil: undefined }),
  burst: fc.boolean(),
  requests: fc.array(fc.record({ request: requestArb, delayMs: fc.integer({ min: 0, max: 1_500 }), repeat: fc.constantFrom('none' as const, 'concurrent' as const, 'lostAnswer' as const) }), { minLength: 3, maxLength: 20 }),
});

async function runCase(c: Case): Promise<void> {
  const customerId = `mc-${randomUUID().slice(0, 12)}`;
  const plan = c.plan === 'free' ? { plan: 'free' } : { plan: c.plan, interval: c.yearly ? 'yearly' : 'monthly' };
  const periodStart = c.renewalInMs === undefined ? {} : { periodStart: new Date(Date.now() - 30 * DAY_MS + c.renewalInMs).toISOString() };
  const created = await api.request('POST', '/v1/customers', { body: { id: customerId, name: 'Race Co', email: 'race@example.test', ...plan, ...periodStart } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const firstCycleStart = Date.parse(created.body.subscription.currentCycle.start);

  // The burst: every request after its delay, some sent twice with one Idempotency-Key.
  const answers = (await Promise.all(c.requests.map(async ({ request, delayMs, repeat }) => {
    await new Promise((resolve) => setTimeout(resolve, c.burst ? 0 : delayMs));
    if (repeat === 'none' || request.kind === 'usage') return [await send(api.baseUrl, customerId, request)];
    const key = randomUUID();
    if (repeat === 'concurrent') return Promise.all([send(api.baseUrl, customerId, request, key), new Promise<Answer>((resolve) => setTimeout(() => resolve(send(api.baseUrl, customerId, request, key)), 20))]);
    const first = await send(api.baseUrl, customerId, request, key);
    if (first.status !== 200 || (await forgetAnswer(api.database.db, key)) !== 1) return [first];
    return [first, { ...(await send(api.baseUrl, customerId, request, key)), retryOf: first }];
  }))).flat();
  expectNoServerErrors(answers);
  // Settled (the renewal, if it was due, has happened): answers, invoices, history and read model agree.
  await expectSubscriptionConsistent({ db: api.database.db, temporal: api.temporal, customerId, answers, renewedFrom: c.renewalInMs === undefined ? undefined : firstCycleStart });
}

it('concurrent changes, cancels, reactivations, usage and a racing renewal leave answers, invoices, history and read model in agreement', async () => {
  const numRuns = Number(process.env.TOLLGATE_MODEL_RUNS ?? 8);
  await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns, endOnFailure: true });
}, 600_000);
