/**
 * A subscription as its own workflow history tells it: every run (following continue-as-new), the
 * Updates it accepted and what each answered, and the activities it scheduled with their inputs.
 * Tests check the database and the API's answers against this record.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { subscriptionWorkflowId } from '../../workflows/messages.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

export interface RecordedUpdate {
  runId: string;
  updateId: string;
  name: string;
  args: unknown[];
  /** The Update's result, or undefined if it failed. */
  result?: unknown;
  failure?: string;
}

export interface RecordedActivity {
  runId: string;
  type: string;
  /** Empty for a local activity: its marker records what it returned, not its input. */
  input: unknown[];
  /** A local activity (the renewal's write, LOCAL_RENEWAL_PATCH) and what it returned. */
  local?: { result: unknown };
}

export interface SubscriptionHistory {
  runIds: string[];
  events: Array<{ runId: string; event: HistoryEvent }>;
  updates: RecordedUpdate[];
  activities: RecordedActivity[];
}

function decode(payloads: Payloads): unknown[] {
  return (payloads?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload));
}

/** Whether the subscription's current run has no workflow task and no activity in flight. */
export async function isIdle(client: Client, customerId: string): Promise<boolean> {
  const { raw } = await client.workflow.getHandle(subscriptionWorkflowId(customerId)).describe();
  return !raw.pendingWorkflowTask && (raw.pendingActivities?.length ?? 0) === 0;
}

/** Every run's history, oldest first, by following continue-as-new from the first run (no visibility lag). */
export async function runHistories(client: Client, customerId: string): Promise<Array<{ runId: string; history: temporal.api.history.v1.IHistory }>> {
  const workflowId = subscriptionWorkflowId(customerId);
  // The latest run remembers the first one; histories only point forward (continue-as-new).
  const latest = await client.workflow.getHandle(workflowId).describe();
  const runs: Array<{ runId: string; history: temporal.api.history.v1.IHistory }> = [];
  for (let runId: string | undefined = latest.raw.workflowExecutionInfo?.firstRunId || latest.runId; runId;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push({ runId, history });
    runId = history.events?.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

/** Every run of the customer's subscription, oldest first, read into Updates and activities. */
export async function subscriptionHistory(client: Client, customerId: string): Promise<SubscriptionHistory> {
  const result: SubscriptionHistory = { runIds: [], events: [], updates: [], activities: [] };
  const accepted = new Map<string, { name: string; args: unknown[]; runId: string }>();
  for (const { runId, history } of await runHistories(client, customerId)) {
    result.runIds.push(runId);
    for (const event of history.events ?? []) {
      result.events.push({ runId, event });
      const acceptedAttributes = event.workflowExecutionUpdateAcceptedEventAttributes;
      if (acceptedAttributes) {
        const request = acceptedAttributes.acceptedRequest;
        accepted.set(request?.meta?.updateId ?? '', { name: request?.input?.name ?? '', args: decode(request?.input?.args), runId });
      }
      const completed = event.workflowExecutionUpdateCompletedEventAttributes;
      if (completed) {
        const updateId = completed.meta?.updateId ?? '';
        const origin = accepted.get(updateId);
        const success = completed.outcome?.success;
        result.updates.push({
          runId,
          updateId,
          name: origin?.name ?? '',
          args: origin?.args ?? [],
          ...(success ? { result: decode(success)[0] } : { failure: completed.outcome?.failure?.message ?? 'failed' }),
        });
      }
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) result.activities.push({ runId, type: scheduled.activityType?.name ?? '', input: decode(scheduled.input) });
      const marker = event.markerRecordedEventAttributes;
      if (marker?.markerName === 'core_local_activity') {
        const data = decode(marker.details?.data)[0] as { activity_type?: string } | undefined;
        const returned = decode(marker.details?.result)[0];
        if (returned !== undefined) result.activities.push({ runId, type: data?.activity_type ?? '', input: [], local: { result: returned } });
      }
    }
  }
  return result;
}
