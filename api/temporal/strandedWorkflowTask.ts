/**
 * Frees a workflow task stranded on a dead worker's sticky queue.
 *
 * Seen on the Temporal server 1.32 (dev server and full server share the code): an Update that
 * arrives just after the worker caching the workflow died gets a speculative workflow task on that
 * worker's sticky queue (the server still believes it alive for about 10 s). When another event
 * (an activity completing, a timer firing, a signal) turns that task into an ordinary one, its
 * sticky schedule-to-start timeout is lost: the task stays scheduled on a queue nobody polls, no
 * later event schedules another, and the subscription takes no change and never renews.
 * Resetting the sticky queue does not move a task already scheduled.
 *
 * What does: poll that sticky queue ourselves and fail the task with RESET_STICKY_TASK_QUEUE, as a
 * worker does when it no longer caches a workflow. The server schedules the next attempt on the
 * normal queue, where live workers take it and replay the history; failing a workflow task loses
 * nothing. Only a task that is surely stranded is touched:
 * - the workflow's pending task is scheduled, not started, for over STRANDED_AFTER_MS;
 * - the history's last WorkflowTaskScheduled event is that very task (same time), on a sticky queue;
 * - that sticky queue has had no poller for POLLERS_GONE_MS, longer than any live worker's long
 *   poll lasts (a live worker may keep tasks waiting on its sticky queue for minutes under load:
 *   worker/workerTuning.ts, so age alone proves nothing).
 * One release at a time per workflow, at most one every RETRY_GAP_MS, so a burst of requests to a
 * stuck subscription makes one attempt, not one each.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Logger } from 'pino';

/** A workflow task scheduled this long ago and not started may be stranded (then the queue is checked). */
export const STRANDED_AFTER_MS = 20_000;
/** A live worker polls its sticky queue again within its long poll (about a minute): silent longer, it is gone. */
export const POLLERS_GONE_MS = 75_000;
const RETRY_GAP_MS = 10_000;
const CALL_DEADLINE_MS = 8_000;
const POLL_WAIT_MS = 5_000;
const IDENTITY = 'tollgate-api (freeing a stranded workflow task)';

// A CommonJS package: named imports do not resolve under Node's ESM loader (they do under vitest).
const { PendingWorkflowTaskState, TaskQueueKind, TaskQueueType, WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;

type Timestamp = { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;
const millisOf = (time: Timestamp) => (time ? Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : undefined);

export type Release =
  | { freed: false; why: 'not_pending' | 'not_old_enough' | 'not_sticky' | 'queue_alive' | 'nothing_polled' | 'recently_tried' }
  | { freed: true; queue: string; workflowId: string };

const inFlight = new Map<string, { at: number; release: Promise<Release> }>();

/**
 * Frees this workflow's task if it is stranded (see the file comment). Errors (Temporal
 * unreachable, the task started meanwhile) reject: the caller's own retry goes on as before.
 */
export function freeStrandedWorkflowTask(client: Client, workflowId: string, options: { logger?: Logger; now?: () => number } = {}): Promise<Release> {
  const now = options.now ?? Date.now;
  const previous = inFlight.get(workflowId);
  if (previous && now() - previous.at < RETRY_GAP_MS) return previous.release.then((r) => (r.freed ? r : { freed: false, why: 'recently_tried' }));
  const release = client.withDeadline(now() + CALL_DEADLINE_MS, () => releaseOnce(client, workflowId, now()))
    .then((result) => {
      if (result.freed) options.logger?.warn({ workflowId, stickyQueue: result.queue, taskOf: result.workflowId }, 'freed a workflow task stranded on a dead worker\'s sticky queue');
      return result;
    });
  inFlight.set(workflowId, { at: now(), release });
  // Forget it once the gap has passed, so the map holds only workflows tried in the last seconds.
  setTimeout(() => { if (inFlight.get(workflowId)?.release === release) inFlight.delete(workflowId); }, RETRY_GAP_MS).unref();
  return release;
}

async function releaseOnce(client: Client, workflowId: string, now: number): Promise<Release> {
  const namespace = client.options.namespace;
  const service = client.workflowService;
  const description = await service.describeWorkflowExecution({ namespace, execution: { workflowId } });
  const pending = description.pendingWorkflowTask;
  const scheduledAt = millisOf(pending?.scheduledTime);
  if (!pending || pending.state !== PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED || scheduledAt === undefined) return { freed: false, why: 'not_pending' };
  if (now - scheduledAt < STRANDED_AFTER_MS) return { freed: false, why: 'not_old_enough' };
  const runId = description.workflowExecutionInfo?.execution?.runId ?? undefined;
  // The pending task's queue: its WorkflowTaskScheduled event, among the last few of the history.
  // A task not in history (speculative, or a retry after a failure) is left alone.
  const history = await service.getWorkflowExecutionHistoryReverse({ namespace, execution: { workflowId, runId }, maximumPageSize: 50 });
  const scheduled = history.history?.events?.find((event) => event.workflowTaskScheduledEventAttributes);
  const queue = scheduled?.workflowTaskScheduledEventAttributes?.taskQueue;
  if (!queue?.name || queue.kind !== TaskQueueKind.TASK_QUEUE_KIND_STICKY || millisOf(scheduled?.eventTime) !== scheduledAt) return { freed: false, why: 'not_sticky' };
  const described = await service.describeTaskQueue({ namespace, taskQueue: queue, taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW });
  const lastPoll = Math.max(0, ...(described.pollers ?? []).map((poller) => millisOf(poller.lastAccessTime) ?? 0));
  if (now - lastPoll < POLLERS_GONE_MS) return { freed: false, why: 'queue_alive' };
  const polled = await client.withDeadline(Date.now() + POLL_WAIT_MS, () => service.pollWorkflowTaskQueue({ namespace, taskQueue: queue, identity: IDENTITY }))
    .catch(() => undefined);
  if (!polled?.taskToken?.length) return { freed: false, why: 'nothing_polled' };
  // Whatever task that dead queue held (this workflow's, or another's stranded the same way) goes back to the normal queue.
  await service.respondWorkflowTaskFailed({
    namespace,
    taskToken: polled.taskToken,
    cause: WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
    identity: IDENTITY,
  });
  return { freed: true, queue: queue.name, workflowId: polled.workflowExecution?.workflowId ?? '' };
}
