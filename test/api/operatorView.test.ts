/**
 * What an operator sees in the Temporal UI (issue 13): a static summary naming the customer, list
 * columns from search attributes (plan, interval, status, renewal date) and the detail view's
 * current details, all current after every change — read through the same server APIs the UI uses.
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

async function listed(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of api.temporal.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

it('the summary names the customer; columns and details follow a change of plan and interval, then a cancellation', async () => {
  const id = `ops-${randomUUID().slice(0, 8)}`;
  const created = await api.request('POST', '/v1/customers', { body: { id, name: 'Ops Co', email: 'ops@example.test', plan: 'basic' } });
  expect(created.status).toBe(201);
  const renewal = created.body.subscription.currentPeriod.end.slice(0, 10);
  const handle = api.temporal.workflow.getHandle(subscriptionWorkflowId(id));

  expect(await (await handle.describe()).staticSummary()).toBe(`Subscription of customer ${id}`);
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
  expect(await listed(`CustomerId = "${id}" AND PeriodEnd = "${changed.body.subscription.currentPeriod.end}"`)).toEqual([subscriptionWorkflowId(id)]);
});
