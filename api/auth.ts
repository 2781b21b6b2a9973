/**
 * Bearer API keys. Today there is one operator key from configuration (full access); customer-
 * scoped keys are still to come. Keys are compared in constant time. The check is a plain
 * function so the lean usage handler (api/usage) and the Express middleware share it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export type ApiKeyCheck = (authorizationHeader: string | undefined) => ApiError | undefined;

export function apiKeyCheck(operatorKey: string): ApiKeyCheck {
  const expected = digest(operatorKey);
  return (header) => {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return new ApiError(401, 'unauthorized', 'Send an API key as `Authorization: Bearer <key>`.');
    if (!timingSafeEqual(digest(match[1]!), expected)) return new ApiError(401, 'unauthorized', 'The API key is not valid.');
    return undefined;
  };
}

export function requireApiKey(check: ApiKeyCheck): RequestHandler {
  return (req, _res, next) => next(check(req.get('authorization')));
}
