/**
 * Bearer API keys. Today there is one operator key from configuration (full access); customer-
 * scoped keys come with the usage API. Keys are compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function requireApiKey(operatorKey: string): RequestHandler {
  const expected = digest(operatorKey);
  return (req, _res, next) => {
    const header = req.get('authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return next(new ApiError(401, 'unauthorized', 'Send an API key as `Authorization: Bearer <key>`.'));
    if (!timingSafeEqual(digest(match[1]!), expected)) return next(new ApiError(401, 'unauthorized', 'The API key is not valid.'));
    next();
  };
}
