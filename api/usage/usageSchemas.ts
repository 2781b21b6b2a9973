/** Usage request shapes (zod), shared by the lean usage handler and the OpenAPI document. */
import { z } from 'zod';
import { customerIdSchema, decimalInteger, safeText } from '../schemas.js';

export const MAX_BATCH_EVENTS = 1_000;
/** Clock skew tolerated for event timestamps from the host's servers. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

export const usageEventSchema = z.strictObject({
  customerId: customerIdSchema,
  metric: safeText().min(1).max(64),
  // At most 10^12 per event: a counter (BIGINT) then holds millions of the largest events.
  quantity: z.number().int('must be a whole number').positive('must be positive').max(1e12),
  idempotencyKey: safeText().min(1).max(200).describe('Your id for this event: the same key counts once, however often it is sent.'),
  timestamp: z.iso.datetime({ offset: true }).optional().describe('When the usage happened; defaults to now. Events of a closed cycle are refused.'),
});
export type UsageEventBody = z.infer<typeof usageEventSchema>;

export const usageBatchSchema = z.strictObject({
  events: z.array(usageEventSchema).min(1),
});

export const usageCheckQuery = z.strictObject({
  customerId: customerIdSchema,
  metric: safeText().min(1).max(64),
  quantity: decimalInteger(1, Number.MAX_SAFE_INTEGER).default(1),
});
