/**
 * Server keys: named, with scopes (api/access/scopes.ts), created and revoked by an `admin` caller.
 * The secret is in the creation answer only; listings show its first characters and last use.
 * These routes are mounted before the Idempotency-Key store, which keeps answers: a secret must
 * never be stored whole, so an Idempotency-Key here is refused (a retry is safe by name instead:
 * a name is taken once).
 */
import { Prisma, type ApiKey } from '../../generated/prisma/client.js';
import { Router, type Request } from 'express';
import type { Db } from '../../store/db.js';
import { apiKeyParams, createApiKeyBody } from '../access/credentialSchemas.js';
import type { CredentialResolver } from '../access/credentialResolver.js';
import { newSecret, secretHash, SERVER_KEY_PREFIX, visiblePrefix } from '../access/secrets.js';
import { ApiError, validationError } from '../errors.js';

export function apiKeyView(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    prefix: key.prefix,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/** Refuses an Idempotency-Key on a route whose answer holds a secret (see the module comment). */
export function refuseIdempotencyKey(req: Request): void {
  if (req.get('idempotency-key') !== undefined) {
    throw new ApiError(400, 'idempotency_key_not_supported', 'This answer holds a secret, which Tollgate never stores, so it cannot be replayed: send the request without Idempotency-Key.');
  }
}

/** Creates a key (the API route and `npm run api-key`); throws 409 `api_key_name_taken` for a name in use. */
export async function createApiKey(db: Db, input: { name: string; scopes: readonly string[] }, now: Date): Promise<{ key: ApiKey; secret: string }> {
  const secret = newSecret(SERVER_KEY_PREFIX);
  try {
    const key = await db.apiKey.create({ data: { name: input.name, scopes: [...input.scopes], secretHash: secretHash(secret), prefix: visiblePrefix(secret), createdAt: now } });
    return { key, secret };
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
      throw new ApiError(409, 'api_key_name_taken', `A key named "${input.name}" exists (names are never reused, revoked keys included); choose another name.`);
    }
    throw error;
  }
}

export function apiKeyRoutes(deps: { db: Db; credentials: CredentialResolver; now?: () => number }): Router {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  router.post('/v1/api-keys', async (req, res) => {
    refuseIdempotencyKey(req);
    if (req.body === undefined) throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
    const body = createApiKeyBody.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'body');
    const { key, secret } = await createApiKey(db, body.data, new Date(now()));
    res.status(201).set('cache-control', 'no-store').json({ ...apiKeyView(key), key: secret });
  });

  router.get('/v1/api-keys', async (_req, res) => {
    const keys = await db.apiKey.findMany({ orderBy: { createdAt: 'asc' } });
    res.json({ data: keys.map(apiKeyView) });
  });

  router.delete('/v1/api-keys/:keyId', async (req, res) => {
    const params = apiKeyParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const at = new Date(now());
    // Revoking twice answers the first revocation: the request is safe to repeat.
    await db.apiKey.updateMany({ where: { id: params.data.keyId, revokedAt: null }, data: { revokedAt: at } });
    const key = await db.apiKey.findUnique({ where: { id: params.data.keyId } });
    if (!key) throw new ApiError(404, 'api_key_not_found', `No key with id "${params.data.keyId}".`);
    deps.credentials.forget(key.id);
    res.json(apiKeyView(key));
  });

  return router;
}
