/**
 * How hard one worker process works, and how much it keeps in memory. The defaults are what the
 * renewal storm (bench/storm.ts: 10,000 subscriptions whose periods end at one instant) needs on
 * a 2-core machine; WORKER_* settings override them per deployment.
 *
 * - maxCachedWorkflows: a cached workflow keeps its sandbox state in memory. The SDK's default
 *   cache is sized from the heap limit, so on a large machine it grows with the number of live
 *   subscriptions (~1.4 MiB each before worker/workflowBundle.ts shared the billing modules, ~0.35
 *   MiB after). A subscription sleeps for a month between tasks, so keeping it cached buys
 *   nothing; an evicted one replays its short history (one cycle per run) on its next task. A
 *   fixed cache keeps the worker's memory flat however many subscriptions it serves (250, with
 *   the heap limit of worker/heapLimit.ts: 614 MiB at the peak of a 10,000 storm). No cache at
 *   all is refused: a renewal's local activity then outlives its workflow's state, and the storm
 *   bench saw renewals take ten times as long.
 * - maxConcurrentWorkflowTaskExecutions / maxConcurrentActivityTaskExecutions: slots. Renewal
 *   tasks are short and I/O-bound (the activity is one PostgreSQL transaction), so more in flight
 *   than cores keeps the database and the server busy while one waits.
 * - maxConcurrentLocalActivityExecutions: the renewal's write runs as a local activity
 *   (LOCAL_RENEWAL_PATCH); each holds one of the worker's database connections for its
 *   transaction, so more at once than the pool has only queues them inside the process.
 * - stickyQueueScheduleToStartTimeout: once a worker has run a workflow's task, the server sends
 *   that workflow's next task to the worker's own (sticky) queue, even after the worker dropped it
 *   from its cache. When 10,000 renewal timers fire at once, nearly all of them queue there, and
 *   the storm takes minutes to drain; with the SDK's 10 s default they time out, each adding
 *   history events and a second dispatch to work that was only waiting its turn. Ten minutes
 *   outlasts a storm. It costs nothing when a worker dies: the server sends tasks to the shared
 *   queue at once when a sticky queue has no poller (matching's "sticky worker unavailable").
 */
import type { WorkerOptions } from '@temporalio/worker';

export interface WorkerTuningSettings {
  WORKER_MAX_CACHED_WORKFLOWS?: number | undefined;
  WORKER_MAX_WORKFLOW_TASKS?: number | undefined;
  WORKER_MAX_ACTIVITIES?: number | undefined;
  WORKER_STICKY_TIMEOUT_SECONDS?: number | undefined;
}

export const WORKER_TUNING_DEFAULTS = {
  maxCachedWorkflows: 250,
  maxConcurrentWorkflowTaskExecutions: 40,
  maxConcurrentActivityTaskExecutions: 100,
  maxConcurrentLocalActivityExecutions: 20,
  stickyQueueScheduleToStartTimeoutSeconds: 600,
} as const;

export function workerTuning(settings: WorkerTuningSettings): Pick<WorkerOptions, 'maxCachedWorkflows' | 'maxConcurrentWorkflowTaskExecutions' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentLocalActivityExecutions' | 'stickyQueueScheduleToStartTimeout'> {
  const d = WORKER_TUNING_DEFAULTS;
  const maxConcurrentWorkflowTaskExecutions = settings.WORKER_MAX_WORKFLOW_TASKS ?? d.maxConcurrentWorkflowTaskExecutions;
  return {
    // The cache holds at least the workflows of the tasks in flight, as the SDK requires.
    maxCachedWorkflows: Math.max(settings.WORKER_MAX_CACHED_WORKFLOWS ?? d.maxCachedWorkflows, maxConcurrentWorkflowTaskExecutions),
    maxConcurrentWorkflowTaskExecutions,
    maxConcurrentActivityTaskExecutions: settings.WORKER_MAX_ACTIVITIES ?? d.maxConcurrentActivityTaskExecutions,
    maxConcurrentLocalActivityExecutions: d.maxConcurrentLocalActivityExecutions,
    stickyQueueScheduleToStartTimeout: `${settings.WORKER_STICKY_TIMEOUT_SECONDS ?? d.stickyQueueScheduleToStartTimeoutSeconds} seconds`,
  };
}
