/**
 * Sends one Update to a customer's subscription workflow and answers as the API must: the
 * workflow's refusal as its 409/422, a missing workflow as 404, and the transient outcomes of
 * concurrency retried here instead of surfacing as 500s.
 *
 * Retrying is safe because every attempt carries the same Update id: a repeat of an accepted
 * Update is answered with its first outcome — by the server within a run, by the workflow's own
 * memory of recent answers across runs (SubscriptionEntity.answerTo) — instead of running twice,
 * and an Update that was rejected (by a validator, or by the server because no worker processed
 * it) left no trace.
 */
import { randomUUID } from 'node:crypto';
import {
  isGrpcServiceError,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowHandle,
  type WorkflowUpdateHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { ApiError } from '../errors.js';
import { operationIdOf } from '../idempotency.js';
import { refusalOf } from './refusalOf.js';
import { freeStrandedWorkflowTask } from './strandedWorkflowTask.js';

/** Attempts before a request that keeps losing races is answered `subscription_busy`. */
const MAX_ATTEMPTS = 8;
/**
 * How long the API waits for an accepted Update's answer. It only takes longer when its write
 * cannot reach PostgreSQL; the change is then recorded as soon as it can be, and the same
 * Idempotency-Key fetches its answer.
 */
const ANSWER_WAIT_MS = 30_000;
/**
 * How long one attempt waits for the workflow to accept or refuse the Update. A live worker does
 * in milliseconds; longer means no worker is polling, or the workflow task is stranded on a dead
 * worker's queue, which the next attempt first frees (api/temporal/strandedWorkflowTask.ts).
 */
const ACCEPT_WAIT_MS = 10_000;
/**
 * All attempts together wait at most this long for acceptance; then 503 `temporal_unavailable`
 * (the same Idempotency-Key continues the same Update). Temporal unreachable answers as soon.
 */
const ACCEPT_BUDGET_MS = 25_000;

/** Accept stage: the handle then polls the run that accepted the Update (not whatever run is current). */
export const ACCEPTED = WorkflowUpdateStage.ACCEPTED;

/**
 * The Update id for a request: the operation its Idempotency-Key names (api/idempotency.ts), so
 * a retried request continues the same Update; without a key, a fresh id (a new request).
 */
export function updateIdFor(res: Response, name: string): string {
  return `${name}-${operationIdOf(res) ?? randomUUID()}`;
}

/** A failed attempt that is not the workflow's refusal: whether to try again, and what to answer when attempts run out. */
interface Transient {
  retry: boolean;
  answer: 'busy' | 'unavailable';
}

function classify(error: unknown): Transient | undefined {
  // The server rejects Updates a worker received but did not process in its workflow task (the
  // task failed or was superseded): the Update was never applied.
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure && error.cause.type === 'UnprocessedUpdate') return { retry: true, answer: 'busy' };
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return { retry: true, answer: 'unavailable' };
  const grpc = error instanceof ServiceError ? error.cause : error;
  if (!isGrpcServiceError(grpc)) return undefined;
  // The client already retried RESOURCE_EXHAUSTED, UNAVAILABLE and ABORTED with backoff: what
  // reaches here has outlasted that.
  switch (grpc.code) {
    case 9: return { retry: true, answer: 'busy' }; // FAILED_PRECONDITION (WorkflowNotReady): the workflow task failed while the Update waited
    case 4: return { retry: true, answer: 'unavailable' }; // DEADLINE_EXCEEDED
    case 8: return { retry: false, answer: 'busy' }; // RESOURCE_EXHAUSTED: too many Updates in flight on one workflow
    case 10: return { retry: false, answer: 'busy' }; // ABORTED
    case 14: return { retry: false, answer: 'unavailable' }; // UNAVAILABLE
    default: return undefined;
  }
}

const busy = () => new ApiError(409, 'subscription_busy', 'The subscription is busy with other changes; nothing was changed by this request. Retry shortly.');
const unavailable = () => new ApiError(503, 'temporal_unavailable', 'Temporal could not be reached; retry shortly with the same Idempotency-Key (a change that went through is answered, not applied again).');

/** Whether the workflow runs: false when it does not exist; Temporal unreachable is an error. */
async function isRunning(temporal: Client, customerId: string): Promise<boolean> {
  try {
    const description = await temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).describe();
    return description.status.name === 'RUNNING';
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw unavailable();
  }
}

/** The accepted Update's result, waited for at most ANSWER_WAIT_MS. */
async function answerOf<Ret>(update: WorkflowUpdateHandle<Ret>): Promise<Ret> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiError(503, 'change_in_progress', 'The change was accepted and is still being recorded (the database may be unreachable); retry with the same Idempotency-Key to get its answer — it will not be applied twice.')), ANSWER_WAIT_MS);
  });
  try {
    return await Promise.race([update.result(), late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function executeSubscriptionUpdate<Ret>(args: {
  temporal: Client;
  customerId: string;
  updateId: string;
  /** One attempt: starts the Update (stage ACCEPTED) and returns its handle; a plan change measures usage again each time. */
  start: (handle: WorkflowHandle, updateId: string) => Promise<WorkflowUpdateHandle<Ret>>;
  /** Where a freed stranded workflow task is reported (api/temporal/strandedWorkflowTask.ts). */
  logger?: Logger;
  /** Whether a refusal should be tried again after a short delay, e.g. `stale_usage`. */
  retryRefusal?: (code: string, attempt: number) => boolean;
}): Promise<Ret> {
  const handle = args.temporal.workflow.getHandle(subscriptionWorkflowId(args.customerId));
  const acceptBy = Date.now() + ACCEPT_BUDGET_MS;
  for (let attempt = 1; ; attempt++) {
    const again = attempt < MAX_ATTEMPTS;
    const delay = () => new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
    try {
      const accepted = await args.temporal.withDeadline(Math.min(Date.now() + ACCEPT_WAIT_MS, acceptBy), () => args.start(handle, args.updateId));
      return await answerOf(accepted);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const refusal = refusalOf(error);
      if (refusal) {
        if (again && (refusal.code === 'subscription_busy' || args.retryRefusal?.(refusal.code, attempt))) {
          await delay();
          continue;
        }
        throw refusal;
      }
      if (error instanceof WorkflowNotFoundError) {
        // Not expected once the handle polls the run that accepted the Update; should a run end
        // between two calls, the subscription is still there: ask its next run.
        if (again && await isRunning(args.temporal, args.customerId)) {
          await delay();
          continue;
        }
        throw new ApiError(404, 'subscription_not_running', `The subscription workflow of "${args.customerId}" is not running.`);
      }
      const transient = classify(error);
      if (!transient) throw error;
      if (transient.retry && again && (transient.answer === 'busy' || Date.now() < acceptBy)) {
        // Not accepted in time: if the workflow's task is stranded, free it before trying again.
        if (transient.answer === 'unavailable') {
          await freeStrandedWorkflowTask(args.temporal, subscriptionWorkflowId(args.customerId), { logger: args.logger })
            .catch((failure: unknown) => args.logger?.warn({ err: failure, customerId: args.customerId }, 'could not check for a stranded workflow task'));
        }
        await delay();
        continue;
      }
      throw transient.answer === 'busy' ? busy() : unavailable();
    }
  }
}
