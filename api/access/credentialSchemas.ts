/** Request shapes of the key and session routes, parsed with zod at the edge (and published in the OpenAPI document). */
import { z } from 'zod';
import { customerIdSchema } from '../schemas.js';
import { OPERATOR_KEY_NAME } from './principal.js';
import { SCOPES } from './scopes.js';

export const DEFAULT_SESSION_SECONDS = 3_600;
export const MAX_SESSION_SECONDS = 86_400;

export const createApiKeyBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1–64 letters, digits, "_", "-" or ".", starting with a letter or digit')
    .refine((name) => name.toLowerCase() !== OPERATOR_KEY_NAME, `"${OPERATOR_KEY_NAME}" is the configured operator key's name`),
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).refine((scopes) => new Set(scopes).size === scopes.length, 'must not repeat a scope'),
});

export const apiKeyParams = z.strictObject({ keyId: z.uuid() });

export const createSessionBody = z.strictObject({
  ttlSeconds: z.number().int().min(60).max(MAX_SESSION_SECONDS).optional(),
});

export const sessionParams = z.strictObject({ customerId: customerIdSchema, sessionId: z.uuid() });
