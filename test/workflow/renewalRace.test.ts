/**
 * A plan change sent while the renewal is being written must neither lose its own credit nor
 * spend credit the renewal holds. The renewal's write (a local activity) is held open here (a gate
 * in front of the real one) while an upgrade is sent, then a downgrade follows; afterwards credit
 * owed, every invoice and the read model must add up. Java time-skipping test server, real PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLER_OPTIONS } from '../../worker/workflowBundle.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NoPaymentProvider } from '../../activities/payments/noPaymentProvider.js';
import type { RenewalRecord } from '../../activities/subscriptionActivities.js';
import { startSubscriptionWorkflow } from '../../api/temporal/startSubscriptionWorkflow.js';
import { ACCEPTED, executeSubscriptionUpdate } from '../../api/temporal/executeSubscriptionUpdate.js';
import { DAY_MS } from '../../billing/period.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { createSenders } from '../../notifications/senders.js';
import { insertCustomer } from '../../store/customerStore.js';
import { snapshotOfRow } from '../../store/subscriptionStore.js';
import { changePlanUpdate, getStateQuery, type ChangePlanResult, type SubscriptionSnapshot } from '../../workflows/messages.js';
import { newSubscriptionInput } from '../../workflows/subscriptionInput.js';
import { createWorker, workerActivities, WORKFLOWS_PATH } from '../../worker/createWorker.js';
import { registerSearchAttributes } from '../../config/registerSearchAttributes.js';
import { createTestDatabase, type TestDatabase } from '../harness/database.js';
import { eventually } from '../harness/eventually.js';
import { isIdle } from '../harness/subscriptionHistory.js';
import { startTimeSkipping } from '../harness/timeSkipping.js';

const catalog = loadCatalog();
const taskQueue = `race-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;

// The gate: the renewal activity reports it started, then waits until the test lets it go on.
let renewalStarted: () => void = () => undefined;
let releaseRenewal: () => void = () => undefined;
let holdRenewals = false;

beforeAll(async () => {
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined, ...WORKFLOW_BUNDLER_OPTIONS });
  [env, database] = await Promise.all([startTimeSkipping(), createTestDatabase()]);
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  const payments = new NoPaymentProvider();
  const real = workerActivities({ db: database.db, payments, senders: createSenders({}), catalog: () => catalog });
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    db: database.db,
    payments,
    senders: createSenders({}),
    catalog: () => catalog,
    options: {
      workflowBundle: bundle,
      workflowsPath: undefined,
      activities: {
        ...real,
        async recordRenewal(args: RenewalRecord) {
          if (holdRenewals) {
            const released = new Promise<void>((resolve) => { releaseRenewal = resolve; });
            renewalStarted();
            await released;
          }
          return real.recordRenewal(args);
        },
      },
    },
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await database?.close();
});

async function state(customerId: string): Promise<SubscriptionSnapshot> {
  return env.client.workflow.getHandle(`subscription-${customerId}`).query(getStateQuery);
}

it('changes sent while the renewal is written wait for it, then keep their own credit and the credit the renewal left', async () => {
  const customerId = `race-${randomUUID().slice(0, 8)}`;
  const now = Number(await (env as unknown as { currentTimeMs(): Promise<number> }).currentTimeMs());
  const input = newSubscriptionInput({ catalog, customerId, planId: 'pro', interval: 'monthly', seats: 1, now });
  await insertCustomer(database.db, { id: customerId, name: 'Race Co', email: 'race@example.test' }, input);
  const handle = await startSubscriptionWorkflow(env.client, taskQueue, input);
  try {
    // Day 1: Pro → Basic owes 20.00 × 29/30 = 19.33.
    await env.sleep('1 day');
    const owed = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'basic', usage: {}, usageCycleStart: input.cycleStart }] });
    expect(owed.netMinor).toBe('-1933');

    // The renewal: Basic's 10.00 fee takes 10.00 of the credit; 9.33 is left.
    holdRenewals = true;
    const started = new Promise<void>((resolve) => { renewalStarted = resolve; });
    const sleeping = env.sleep('29 days');
    await started;

    // The renewal's write is a local activity inside the workflow task its timer woke
    // (LOCAL_RENEWAL_PATCH): an upgrade sent while it is held waits for it and then applies to
    // the new cycle, never to the closed one. Until the next run takes it, it is refused as
    // `subscription_busy`, which the API retries (the same helper here).
    const upgrading = executeSubscriptionUpdate<ChangePlanResult>({
      temporal: env.client,
      customerId,
      updateId: `upgrade-${randomUUID()}`,
      start: (h, updateId) => h.startUpdate(changePlanUpdate, { args: [{ planId: 'pro', usage: {}, usageCycleStart: input.cycleEnd }], updateId, waitForStage: ACCEPTED }),
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    holdRenewals = false;
    releaseRenewal();
    const upgrade = await upgrading;
    const downgrade = await handle.executeUpdate(changePlanUpdate, { args: [{ planId: 'basic', usage: {}, usageCycleStart: input.cycleEnd }] });
    expect(upgrade.kind).toBe('upgrade');
    expect(downgrade.kind).toBe('downgrade');
    await sleeping;

    const settled = await eventually(async () => {
      const s = await state(customerId);
      return s.cycleNumber === 1 && await isIdle(env.client, customerId) ? s : undefined;
    });
    // The upgrade may spend the 9.33 the renewal left (and no more); it is charged the rest.
    const applied = BigInt(upgrade.creditAppliedMinor ?? '0');
    expect(applied).toBeGreaterThanOrEqual(0n);
    expect(applied).toBeLessThanOrEqual(933n);
    expect(BigInt(upgrade.chargedMinor!)).toBe(BigInt(upgrade.netMinor) - applied);
    // Credit owed = what the renewal and the upgrade left + the downgrade's credit; nothing lost, nothing twice.
    const downgradeCredit = -BigInt(downgrade.netMinor);
    expect(downgradeCredit).toBeGreaterThan(1900n);
    expect(settled.creditOwedMinor).toBe((933n - applied + downgradeCredit).toString());
    expect(settled.planId).toBe('basic');

    // Every invoice: the first period, the renewal (fee paid by credit), the upgrade as answered.
    const invoices = await database.db.invoice.findMany({ where: { customerId }, orderBy: { periodStart: 'asc' }, include: { lines: { orderBy: { position: 'asc' } } } });
    expect(invoices.map((i) => [i.reason, i.totalMinor])).toEqual([
      ['subscription_create', 3000n],
      ['renewal', 0n],
      ['plan_change', BigInt(upgrade.chargedMinor!)],
    ]);
    expect(invoices[1]!.lines.map((l) => [l.kind, l.amountMinor])).toEqual([['plan', 1000n], ['credit', -1000n]]);
    expect(invoices[2]!.number).toBe(upgrade.invoiceNumber);
    expect(invoices[2]!.periodStart.getTime()).toBeGreaterThanOrEqual(input.cycleEnd);

    // The read model took the returned credit too.
    await eventually(async () => {
      const row = await database.db.subscription.findUniqueOrThrow({ where: { customerId } });
      const { cycleNumber: _cycles, ...expected } = await state(customerId);
      expect(snapshotOfRow(row)).toEqual(expected);
      return true;
    });
    expect(settled.periodStart).toBe(input.periodStart + 30 * DAY_MS);
  } finally {
    holdRenewals = false;
    releaseRenewal();
    await handle.terminate('test finished').catch(() => undefined);
  }
});
