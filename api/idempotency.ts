/**
 * `Idempotency-Key` on write requests (POST/PUT/PATCH/DELETE): the first request with a key is
 * processed and its answer stored; a repeat within 24 hours gets that answer again (header
 * `Idempotent-Replayed: true`) without doing anything; the same key with a different request is
 * refused (422 `idempotency_key_reused`), and a repeat while the first is still running gets 409
 * `idempotency_request_in_progress`. 400s are not kept: a malformed request ran nothing, and bad
 * input must leave no trace in any table.
 *
 * A key names one operation (`operationIdOf`) for as long as its record lives: routes use it as
 * the id of the Temporal Update they send, so a request retried after a 5xx, a lost answer or a
 * dead API process continues the same operation — the workflow answers it as the first time, never
 * applies it twice. A 5xx therefore releases the record's claim instead of deleting it, and an
 * attempt that never answered is taken over after ABANDONED_MS.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Db } from '../store/db.js';
import { principalOf } from './access/accessCheck.js';
import { describePrincipal, type Principal } from './access/principal.js';
import { ApiError } from './errors.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TTL_MS = 24 * 60 * 60 * 1000;
const ABANDONED_MS = 60_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const OPERATION_ID = 'idempotentOperationId';

/** The operation the request's Idempotency-Key names (a UUID), or undefined without a key. */
export function operationIdOf(res: Response): string | undefined {
  const id: unknown = res.locals[OPERATION_ID];
  return typeof id === 'string' ? id : undefined;
}

/**
 * Keys are the caller's own: a customer session (or another key) cannot claim, replay or probe a
 * key the operator sends. The operator key's records keep the bare key, as before keys had owners,
 * so a retry that straddles an upgrade continues its operation.
 */
function recordKey(principal: Principal, key: string): string {
  // A space cannot be part of a key (KEY_PATTERN), so the owner and the key cannot run together.
  return principal.kind === 'key' && principal.keyId === undefined ? key : `${describePrincipal(principal)} ${key}`;
}

export function idempotency(db: Db, now: () => number = Date.now): RequestHandler {
  return async (req, res, next) => {
    const sent = req.get('idempotency-key');
    if (sent === undefined || !WRITE_METHODS.has(req.method)) return next();
    if (!KEY_PATTERN.test(sent)) return next(new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–255 visible ASCII characters.'));
    const key = recordKey(principalOf(res), sent);
    // The body reader (api/http/readJsonBody.ts) bounds nesting, so JSON.stringify cannot overflow.
    const hash = createHash('sha256').update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? null)}`).digest('hex');
    let operationId: string;
    try {
      await db.idempotencyRecord.deleteMany({ where: { key, createdAt: { lt: new Date(now() - TTL_MS) } } });
      const at = new Date(now());
      const inserted = await db.$queryRaw<Array<{ operation_id: string }>>`
        INSERT INTO idempotency_records (key, request_hash, claimed_at) VALUES (${key}, ${hash}, ${at})
        ON CONFLICT (key) DO NOTHING RETURNING operation_id::text`;
      if (inserted[0]) operationId = inserted[0].operation_id;
      else {
        const first = await db.idempotencyRecord.findUnique({ where: { key } });
        if (!first) return next(new ApiError(409, 'idempotency_request_in_progress', 'A request with this Idempotency-Key was just being processed; retry.'));
        if (first.requestHash !== hash) {
          return next(new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used for a different request; use a new key for a new request.'));
        }
        if (first.status !== null) {
          res.set('Idempotent-Replayed', 'true').status(first.status).json(first.response);
          return;
        }
        // Unanswered: released by a 5xx, or its process died (it must not block the key for a
        // day). One repeat takes it over and continues the same operation.
        const takenOver = await db.$queryRaw<Array<{ operation_id: string }>>`
          UPDATE idempotency_records SET claimed_at = ${at}
          WHERE key = ${key} AND status IS NULL AND (claimed_at IS NULL OR claimed_at < ${new Date(now() - ABANDONED_MS)})
          RETURNING operation_id::text`;
        if (!takenOver[0]) return next(new ApiError(409, 'idempotency_request_in_progress', 'The first request with this Idempotency-Key is still being processed; retry shortly.'));
        operationId = takenOver[0].operation_id;
      }
    } catch (error) {
      return next(error);
    }
    res.locals[OPERATION_ID] = operationId;
    // Keep the first answer: wrap res.json, which every route uses to answer.
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const store = status === 400
        ? db.idempotencyRecord.delete({ where: { key } })
        : status >= 500
          ? db.idempotencyRecord.update({ where: { key }, data: { claimedAt: null } })
          : db.idempotencyRecord.update({ where: { key }, data: { status, response: body === undefined ? {} : (JSON.parse(JSON.stringify(body)) as object), completedAt: new Date(now()) } });
      // The work is done whatever happens to its record: answer it. A record left claimed is
      // taken over after ABANDONED_MS, so a repeat then continues rather than being refused forever.
      store.then(() => json(body), () => json(body));
      return res;
    };
    next();
  };
}
