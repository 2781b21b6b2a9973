/**
 * Sends one Update to a customer's subscription workflow and answers as the API must: the
 * workflow's refusal as its 409/422, a missing workflow as 404, and the transient outcomes of
 * concurrency retried here instead of surfacing as 500s.
 *
 * Retrying is safe because every attempt carries the same Update id: the server answers a repeat of
 * an accepted Update with its first outcome instead of running it twice, and an Update that was
 * rejected (by a validator, or by the server because a worker never processed it) left no trace.
 */
import { createHash, randomUUID } from 'node:crypto';
import { isGrpcServiceError, ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Request } from 'express';
import { subscriptionWorkflowId } from '../../workflows/messages.js';
import { ApiError } from '../errors.js';
import { refusalOf } from './refusalOf.js';

/** Attempts before a request that keeps losing races is answered `subscription_busy`. */
const MAX_ATTEMPTS = 8;

/**
 * The Update id for a request: derived from its Idempotency-Key (with method, path and body), so a
 * retried request names the same Update and gets the first answer instead of running again;
 * without a key, a fresh id (each request is a new change).
 */
export function updateIdFor(req: Request, name: string): string {
  const key = req.get('idempotency-key');
  if (key === undefined) return `${name}-${randomUUID()}`;
  const digest = createHash('sha256').update(`${key}\n${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? null)}`).digest('hex');
  return `${name}-${digest}`;
}

/** gRPC status codes (stable numbers of the gRPC spec) that mean "not now" rather than "no". */
const TRANSIENT_GRPC_CODES: Readonly<Record<number, string>> = {
  4: 'DEADLINE_EXCEEDED',
  8: 'RESOURCE_EXHAUSTED', // too many Updates in flight on one workflow
  9: 'FAILED_PRECONDITION', // WorkflowNotReady: the workflow task failed while the Update waited
  10: 'ABORTED',
  14: 'UNAVAILABLE',
};

/** Why an attempt may be repeated with the same Update id, or undefined when it must not be. */
function transientReason(error: unknown): string | undefined {
  // The server rejects Updates a worker received but did not process in its workflow task (e.g.
  // the task failed or was superseded); the Update was never applied.
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure && error.cause.type === 'UnprocessedUpdate') return 'unprocessed';
  const grpc = error instanceof ServiceError ? error.cause : error;
  if (isGrpcServiceError(grpc)) return TRANSIENT_GRPC_CODES[grpc.code];
  return undefined;
}

async function isRunning(temporal: Client, customerId: string): Promise<boolean> {
  try {
    const description = await temporal.workflow.getHandle(subscriptionWorkflowId(customerId)).describe();
    return description.status.name === 'RUNNING';
  } catch {
    return false;
  }
}

export async function executeSubscriptionUpdate<Ret>(args: {
  temporal: Client;
  customerId: string;
  updateId: string;
  /** One attempt (a plan change measures usage again each time: a renewal may have made it stale). */
  send: (handle: WorkflowHandle, updateId: string) => Promise<Ret>;
  /** Whether a refusal should be tried again after a short delay, e.g. `stale_usage`. */
  retryRefusal?: (code: string, attempt: number) => boolean;
}): Promise<Ret> {
  const handle = args.temporal.workflow.getHandle(subscriptionWorkflowId(args.customerId));
  for (let attempt = 1; ; attempt++) {
    const delay = () => new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
    try {
      return await args.send(handle, args.updateId);
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal) {
        if (attempt < MAX_ATTEMPTS && (refusal.code === 'subscription_busy' || args.retryRefusal?.(refusal.code, attempt))) {
          await delay();
          continue;
        }
        throw refusal;
      }
      if (error instanceof WorkflowNotFoundError) {
        // Between two runs (continue-as-new) an Update in flight is aborted as "not found": the
        // subscription is there, ask its next run.
        if (attempt < MAX_ATTEMPTS && await isRunning(args.temporal, args.customerId)) {
          await delay();
          continue;
        }
        throw new ApiError(404, 'subscription_not_running', `The subscription workflow of "${args.customerId}" is not running.`);
      }
      if (transientReason(error) !== undefined) {
        if (attempt < MAX_ATTEMPTS) {
          await delay();
          continue;
        }
        throw new ApiError(409, 'subscription_busy', 'The subscription is busy with other changes; nothing was changed by this request. Retry shortly.');
      }
      throw error;
    }
  }
}
