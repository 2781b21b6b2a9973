/** Request shapes of the webhook endpoint routes (zod at the edge; published in the OpenAPI document). */
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES } from '../../notifications/webhookEvents.js';
import { decimalInteger, safeText } from '../schemas.js';

export const DEFAULT_PREVIOUS_SECRET_SECONDS = 86_400;

export const createEndpointBody = z.strictObject({
  url: z.string().max(2_000),
  eventTypes: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).refine((types) => new Set(types).size === types.length, 'must not repeat an event type'),
  description: safeText().max(200).optional(),
});

export const rotateSecretBody = z.strictObject({
  /** How long the previous secret keeps signing too (0: not at all). */
  previousValidSeconds: z.number().int().min(0).max(7 * 86_400).optional(),
});

export const endpointParams = z.strictObject({ endpointId: z.uuid() });
export const deliveryParams = z.strictObject({ endpointId: z.uuid(), deliveryId: z.uuid() });
export const deliveriesQuery = z.strictObject({ limit: decimalInteger(1, 100).default(20) });
