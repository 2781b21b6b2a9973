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
  input: unknown[];
}

export interface SubscriptionHistory {
  runIds: string[];
  events: Array<{ runId: string; event: HistoryEvent }>;
  updates: RecordedUpdate[];
  activities: RecordedActivity[];
  /** Each run's last event type, e.g. EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW (number). */
  markers: string[];
}

function decode(payloads: Payloads): unknown[] {
  return (payloads?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload));
}

/** Every run of the customer's subscription, oldest first, by following continue-as-new from the first run. */
export async function subscriptionHistory(client: Client, customerId: string): Promise<SubscriptionHistory> {
  const workflowId = subscriptionWorkflowId(customerId);
  // The latest run remembers the first one; histories only point forward (continue-as-new).
  const latest = await client.workflow.getHandle(workflowId).describe();
  let runId: string | undefined = latest.raw.workflowExecutionInfo?.firstRunId || latest.runId;
  const result: SubscriptionHistory = { runIds: [], events: [], updates: [], activities: [], markers: [] };
  const accepted = new Map<string, { name: string; args: unknown[]; runId: string }>();
  while (runId) {
    result.runIds.push(runId);
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    let next: string | undefined;
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
      const continued = event.workflowExecutionContinuedAsNewEventAttributes;
      if (continued) next = continued.newExecutionRunId ?? undefined;
    }
    result.markers.push(String(history.events?.at(-1)?.eventType ?? ''));
    runId = next;
  }
  return result;
}
