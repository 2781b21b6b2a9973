/**
 * `Idempotency-Key` on write requests (POST/PUT/PATCH/DELETE): the first request with a key is
 * processed and its answer stored; a repeat within 24 hours gets that answer again (header
 * `Idempotent-Replayed: true`) without doing anything; the same key with a different request is
 * refused (422 `idempotency_key_reused`), and a repeat while the first is still running gets 409
 * `idempotency_request_in_progress`. 5xx answers are not stored, so a retry runs again; nor are
 * 400s: a malformed request ran nothing, and bad input must leave no trace in any table.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Db } from '../store/db.js';
import { ApiError } from './errors.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TTL_MS = 24 * 60 * 60 * 1000;
const ABANDONED_MS = 60_000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function idempotency(db: Db, now: () => number = Date.now): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined || !WRITE_METHODS.has(req.method)) return next();
    if (!KEY_PATTERN.test(key)) return next(new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1–255 visible ASCII characters.'));
    // The body reader (api/http/readJsonBody.ts) bounds nesting, so JSON.stringify cannot overflow.
    const hash = createHash('sha256').update(`${req.method} ${req.originalUrl}\n${JSON.stringify(req.body ?? null)}`).digest('hex');
    try {
      await db.idempotencyRecord.deleteMany({ where: { key, createdAt: { lt: new Date(now() - TTL_MS) } } });
      const inserted = await db.$executeRaw`INSERT INTO idempotency_records (key, request_hash) VALUES (${key}, ${hash}) ON CONFLICT (key) DO NOTHING`;
      if (inserted === 0) {
        const first = await db.idempotencyRecord.findUnique({ where: { key } });
        if (!first) return next(new ApiError(409, 'idempotency_request_in_progress', 'A request with this Idempotency-Key was just being processed; retry.'));
        if (first.requestHash !== hash) {
          return next(new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used for a different request; use a new key for a new request.'));
        }
        if (first.status === null) {
          // A first attempt that never answered (its process died) must not block the key for a day.
          if (now() - first.createdAt.getTime() > ABANDONED_MS) await db.idempotencyRecord.deleteMany({ where: { key, status: null, createdAt: first.createdAt } });
          return next(new ApiError(409, 'idempotency_request_in_progress', 'The first request with this Idempotency-Key is still being processed; retry shortly.'));
        }
        res.set('Idempotent-Replayed', 'true').status(first.status).json(first.response);
        return;
      }
    } catch (error) {
      return next(error);
    }
    // Keep the first answer: wrap res.json, which every route uses to answer.
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const store = status < 500 && status !== 400
        ? db.idempotencyRecord.update({ where: { key }, data: { status, response: body === undefined ? {} : (JSON.parse(JSON.stringify(body)) as object), completedAt: new Date(now()) } })
        : db.idempotencyRecord.delete({ where: { key } });
      // The work is done whatever happens to its record: answer it. A record left unfinished is
      // taken over after ABANDONED_MS, so a repeat then runs again rather than being refused forever.
      store.then(() => json(body), () => json(body));
      return res;
    };
    next();
  };
}
