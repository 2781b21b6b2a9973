/**
 * What an operator sees in the Temporal UI (issue 13): list columns from search attributes
 * (customer, plan, interval, status, renewal date) and the detail view's current details, all
 * current after every change and in every run — read through the same server APIs the UI uses.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { startApiHarness, type ApiHarness } from '../harness/apiHarness.js';
import { eventually } from '../harness/eventually.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness();
});
afterAll(async () => {
  await api?.close();
});

/** The workflow's current details, as the UI reads them: the SDK's built-in metadata query. */
async function currentDetails(customerId: string): Promise<string> {
  const metadata = await api.temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

/**
 * A filter on the renewal's second. Equality on a Datetime attribute misses values whose
 * milliseconds end in zero on the dev server's SQLite visibility (it stores them trimmed), so
 * operators filter PeriodEnd by range, as the README shows.
 */
function periodEndWithin(iso: string): string {
  const second = Math.floor(Date.parse(iso) / 1000) * 1000;
  const at = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return `PeriodEnd >= "${at(second)}" AND PeriodEnd < "${at(second + 1000)}"`;
}

async function listed(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of api.temporal.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

it('columns and details follow a change of plan and interval, then a cancellation', async () => {
  const id = `ops-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Ops Co', email: 'ops@example.test', plan: 'basic' } });
  expect(created.status).toBe(201);
  const renewal = created.body.subscription.currentPeriod.end.slice(0, 10);

  expect(await currentDetails(id)).toContain('**Plan** Basic (basic), monthly');
  expect(await currentDetails(id)).toContain(`**Status** active; renews ${renewal}`);
  await eventually(async () => (await listed(`CustomerId = "${id}" AND PlanId = "basic" AND BillingInterval = "monthly" AND SubscriptionStatus = "active"`)).length === 1 || undefined);

  const changed = await api.request('POST', `/v1/customers/${id}/subscription/change`, { body: { plan: 'pro', interval: 'yearly' } });
  expect(changed.status).toBe(200);
  const yearEnd = changed.body.subscription.currentPeriod.end.slice(0, 10);
  const details = await currentDetails(id);
  expect(details).toContain('**Plan** Pro (pro), yearly');
  expect(details).toContain(`renews ${yearEnd}`);
  await eventually(async () => (await listed(`CustomerId = "${id}" AND PlanId = "pro" AND BillingInterval = "yearly"`)).length === 1 || undefined);

  expect((await api.request('POST', `/v1/customers/${id}/subscription/cancel`)).status).toBe(200);
  expect(await currentDetails(id)).toContain(`**Status** cancellation scheduled; ends ${yearEnd}`);
  await eventually(async () => (await listed(`CustomerId = "${id}" AND SubscriptionStatus = "cancel_scheduled"`)).length === 1 || undefined);
  // The list's date column: PeriodEnd, the renewal (or end) date, filterable too.
  const byDate = await eventually(async () => {
    const found = await listed(`CustomerId = "${id}" AND ${periodEndWithin(changed.body.subscription.currentPeriod.end)}`);
    return found.length > 0 ? found : undefined;
  });
  expect(byDate).toEqual([subscriptionWorkflowId(id)]);
});

it('after a renewal (a new run) the columns and details are still there', async () => {
  const id = `ops-${randomUUID().slice(0, 8)}`;
  // On a whole second: the renewal date's milliseconds are all zeros, the case equality misses.
  const periodStart = new Date(Math.ceil((Date.now() - 30 * 86_400_000 + 2_000) / 1000) * 1000).toISOString();
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Ops Co', email: 'ops@example.test', plan: 'pro', periodStart } });
  expect(created.status).toBe(201);
  const firstEnd = created.body.subscription.currentPeriod.end as string;
  const renewed = await eventually(async () => {
    const card = (await api.request('GET', `/v1/customers/${id}/subscription`)).body;
    return card.currentPeriod.start === firstEnd ? card : undefined;
  }, 30_000, 200);
  const nextEnd = (renewed.currentPeriod.end as string).slice(0, 10);
  await eventually(async () => (await currentDetails(id)).includes(`renews ${nextEnd}`) || undefined, 20_000, 200);
  // The new run is listed with its own renewal date; the first run, closed, keeps its own.
  await eventually(async () => (await listed(`CustomerId = "${id}" AND ExecutionStatus = "Running" AND PlanId = "pro" AND BillingInterval = "monthly" AND ${periodEndWithin(renewed.currentPeriod.end)}`)).length === 1 || undefined, 20_000, 200);
  expect(await currentDetails(id)).toContain('**Cycle** 2:');
});
