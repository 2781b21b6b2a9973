/**
 * Frees a workflow task stranded on a dead worker's sticky queue.
 *
 * Seen on the Temporal server 1.32 (dev server and full server share the code): an Update that
 * arrives just after the worker caching the workflow died gets a speculative workflow task on that
 * worker's sticky queue (the server still believes it alive for about 10 s). When another event
 * (an activity completing, a timer firing) turns that task into an ordinary one before its sticky
 * schedule-to-start timeout, the timeout is lost: the task stays scheduled on a queue nobody polls,
 * no later event schedules another, and the subscription takes no change and never renews.
 * Resetting the sticky queue does not move a task already scheduled.
 *
 * What does: poll that sticky queue ourselves (its name is in the task's WorkflowTaskScheduled
 * event) and fail the task with RESET_STICKY_TASK_QUEUE, as a worker does when it no longer caches
 * a workflow. The server then schedules the next attempt on the normal queue, where live workers
 * take it and replay the history. Failing a workflow task loses nothing: the workflow's code runs
 * again from its history. A healthy task is never touched: only one scheduled longer than
 * STRANDED_AFTER_MS, far past the sticky timeout (10 s) that would have moved it.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

/** A workflow task scheduled this long ago and not started is stranded (the sticky timeout is 10 s). */
export const STRANDED_AFTER_MS = 20_000;
const POLL_WAIT_MS = 5_000;
const IDENTITY = 'tollgate-api (freeing a stranded workflow task)';

// A CommonJS package: named imports do not resolve under Node's ESM loader (they do under vitest).
const { PendingWorkflowTaskState, TaskQueueKind, WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;

const millisOf = (time: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined) =>
  time ? Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : undefined;

/**
 * Whether a stranded task of this workflow was found and freed. Anything unexpected (the task
 * started meanwhile, another caller freed it, the server unreachable) is "not freed": the caller
 * retries its Update as before.
 */
export async function freeStrandedWorkflowTask(client: Client, workflowId: string, now = Date.now()): Promise<boolean> {
  const namespace = client.options.namespace;
  const service = client.workflowService;
  const description = await service.describeWorkflowExecution({ namespace, execution: { workflowId } });
  const pending = description.pendingWorkflowTask;
  const scheduledAt = millisOf(pending?.scheduledTime);
  if (!pending || pending.state !== PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED || scheduledAt === undefined) return false;
  if (now - scheduledAt < STRANDED_AFTER_MS) return false;
  const runId = description.workflowExecutionInfo?.execution?.runId ?? undefined;
  // The task's queue: its WorkflowTaskScheduled event, among the last few of the history.
  const history = await service.getWorkflowExecutionHistoryReverse({ namespace, execution: { workflowId, runId }, maximumPageSize: 50 });
  const queue = history.history?.events?.find((event) => event.workflowTaskScheduledEventAttributes)?.workflowTaskScheduledEventAttributes?.taskQueue;
  if (!queue?.name || queue.kind !== TaskQueueKind.TASK_QUEUE_KIND_STICKY) return false;
  const polled = await client.withDeadline(Date.now() + POLL_WAIT_MS, () => service.pollWorkflowTaskQueue({ namespace, taskQueue: queue, identity: IDENTITY }))
    .catch(() => undefined);
  if (!polled?.taskToken?.length) return false;
  // Whatever task that dead queue held (this workflow's, or another's stranded the same way) goes back to the normal queue.
  await service.respondWorkflowTaskFailed({
    namespace,
    taskToken: polled.taskToken,
    cause: WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
    identity: IDENTITY,
  });
  return polled.workflowExecution?.workflowId === workflowId;
}
