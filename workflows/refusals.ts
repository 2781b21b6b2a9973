/**
 * Why the workflow refuses a request. Update validators throw these as ApplicationFailures whose
 * `type` is the stable code the API returns, so the reason reaches the caller at once and a
 * refused update leaves nothing in the workflow's history.
 */
import { ApplicationFailure } from '@temporalio/common';

export const REFUSAL_CODES = [
  'cancellation_already_scheduled',
  'nothing_to_cancel',
  'no_cancellation_scheduled',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export function refusal(code: RefusalCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

export function isRefusalCode(value: unknown): value is RefusalCode {
  return typeof value === 'string' && (REFUSAL_CODES as readonly string[]).includes(value);
}
