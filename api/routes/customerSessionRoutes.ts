/**
 * Customer sessions: a server key with `admin` asks for a short-lived token for one customer
 * (default one hour), which a browser then sends to that customer's routes only
 * (api/access/routeAccess.ts). Revocable by the key, or by the session itself (logging out).
 * Mounted before the Idempotency-Key store, like the key routes: the token is never stored whole.
 */
import type { CustomerSession } from '../../generated/prisma/client.js';
import { BILLING_PAGE_PATH } from '../billingPage/billingPageRoutes.js';
import { Router } from 'express';
import type { Db } from '../../store/db.js';
import { principalOf } from '../access/accessCheck.js';
import { createSessionBody, DEFAULT_SESSION_SECONDS, sessionParams } from '../access/credentialSchemas.js';
import type { CredentialResolver } from '../access/credentialResolver.js';
import { describePrincipal } from '../access/principal.js';
import { newSecret, secretHash, SESSION_TOKEN_PREFIX } from '../access/secrets.js';
import { ApiError, validationError } from '../errors.js';
import { customerParams } from '../schemas.js';
import { refuseIdempotencyKey } from './apiKeyRoutes.js';

function sessionView(session: CustomerSession) {
  return {
    id: session.id,
    customerId: session.customerId,
    createdBy: session.createdBy,
    createdAt: session.createdAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    revokedAt: session.revokedAt?.toISOString() ?? null,
  };
}

/**
 * The reference billing page opened for this session, relative to the API's address. The token
 * rides in the fragment, which a browser never sends to a server nor puts in a Referer; the page
 * moves it to its tab's sessionStorage and clears the address bar.
 */
export function billingPageUrlOf(customerId: string, token: string): string {
  return `${BILLING_PAGE_PATH}#customer=${encodeURIComponent(customerId)}&token=${encodeURIComponent(token)}`;
}

export function customerSessionRoutes(deps: { db: Db; credentials: CredentialResolver; now?: () => number }): Router {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const router = Router();

  router.post('/v1/customers/:customerId/sessions', async (req, res) => {
    refuseIdempotencyKey(req);
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    // The body is optional; sent, it must be an object (`null` is not "no body").
    const body = createSessionBody.safeParse(req.body === undefined ? {} : req.body);
    if (!body.success) throw validationError(body.error, 'body');
    const customer = await db.customer.findUnique({ where: { id: params.data.customerId }, select: { id: true } });
    if (!customer) throw new ApiError(404, 'customer_not_found', `No customer "${params.data.customerId}".`);
    const token = newSecret(SESSION_TOKEN_PREFIX);
    const at = now();
    const session = await db.customerSession.create({
      data: {
        customerId: customer.id,
        secretHash: secretHash(token),
        createdBy: describePrincipal(principalOf(res)),
        createdAt: new Date(at),
        expiresAt: new Date(at + (body.data.ttlSeconds ?? DEFAULT_SESSION_SECONDS) * 1000),
      },
    });
    res.status(201).set('cache-control', 'no-store').json({ ...sessionView(session), token, billingPageUrl: billingPageUrlOf(customer.id, token) });
  });

  /**
   * A session trades itself for a new token of the same customer and expiry, and the old one stops
   * working. The billing page does this as soon as it opens: the link it was opened with stays in
   * the browser's history (fragment included), and a token found there must be dead.
   */
  router.post('/v1/customers/:customerId/sessions/rotate', async (req, res) => {
    refuseIdempotencyKey(req);
    const params = customerParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const principal = principalOf(res);
    if (principal.kind !== 'session') throw new ApiError(400, 'not_a_session', 'Only a customer session can rotate itself; a server key makes new sessions with POST …/sessions.');
    const token = newSecret(SESSION_TOKEN_PREFIX);
    const at = new Date(now());
    const session = await db.$transaction(async (tx) => {
      // Only a live session rotates, once: two rotations at once leave one new token, not two.
      const revoked = await tx.customerSession.updateMany({ where: { id: principal.sessionId, revokedAt: null, expiresAt: { gt: at } }, data: { revokedAt: at } });
      if (revoked.count === 0) throw new ApiError(401, 'unauthorized', 'This session was revoked or has expired.');
      return tx.customerSession.create({
        data: { customerId: principal.customerId, secretHash: secretHash(token), createdBy: describePrincipal(principal), createdAt: at, expiresAt: new Date(principal.expiresAt) },
      });
    });
    deps.credentials.forget(principal.sessionId);
    res.status(201).set('cache-control', 'no-store').json({ ...sessionView(session), token });
  });

  router.delete('/v1/customers/:customerId/sessions/:sessionId', async (req, res) => {
    const params = sessionParams.safeParse(req.params);
    if (!params.success) throw validationError(params.error, 'path');
    const where = { id: params.data.sessionId, customerId: params.data.customerId };
    // Revoking twice answers the first revocation: the request is safe to repeat.
    await db.customerSession.updateMany({ where: { ...where, revokedAt: null }, data: { revokedAt: new Date(now()) } });
    const session = await db.customerSession.findFirst({ where });
    if (!session) throw new ApiError(404, 'session_not_found', `No session "${params.data.sessionId}" for customer "${params.data.customerId}".`);
    deps.credentials.forget(session.id);
    res.json(sessionView(session));
  });

  return router;
}
