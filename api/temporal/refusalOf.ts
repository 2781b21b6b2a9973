/** A workflow's refusal of an update, as the API error it answers with (409; 422 for impossible requests, 404 for a missing thing). */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { isRefusalCode, NOT_FOUND_REFUSALS, PROVIDER_REFUSALS, UNPROCESSABLE_REFUSALS } from '../../workflows/refusals.js';
import { ApiError } from '../errors.js';

export function refusalOf(error: unknown): ApiError | undefined {
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure && isRefusalCode(error.cause.type)) {
    const status = PROVIDER_REFUSALS.includes(error.cause.type) ? 502 : NOT_FOUND_REFUSALS.includes(error.cause.type) ? 404 : UNPROCESSABLE_REFUSALS.includes(error.cause.type) ? 422 : 409;
    return new ApiError(status, error.cause.type, error.cause.message, error.cause.details?.[0]);
  }
  return undefined;
}
