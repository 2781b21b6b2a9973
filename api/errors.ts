/**
 * One error shape for every failure: `{ "error": { "code", "message", "details"? } }`. Codes are
 * stable (clients branch on them); messages are for humans. Any error carrying a 4xx status (the
 * router, node, a library) keeps that status and gets a stable code; anything else is a 500.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../store/databaseErrors.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Response headers the error needs, e.g. `allow` on a 405. */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function validationError(error: ZodError, where: 'body' | 'query' | 'path'): ApiError {
  const issues = error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return new ApiError(400, 'validation_failed', `Invalid request ${where}: ${summary}`, { issues });
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(error: ApiError): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  return body;
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'not_found', `No route for ${req.method} ${req.path}.`));
};

/** Stable codes for errors that carry nothing but an HTTP status. */
const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'request_header_fields_too_large',
};

function clientStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value < 500 ? value : undefined;
}

/** The error as the API answers it when it is the client's fault; undefined for a server failure. */
export function clientError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  const status = clientStatusOf(error);
  if (status === undefined) return undefined;
  // Express's router decodes path parameters with decodeURIComponent: `%` or broken UTF-8 fail.
  if (status === 400 && error instanceof URIError) return new ApiError(400, 'invalid_path', 'The request path is not valid percent-encoded UTF-8.');
  return new ApiError(status, CODE_OF_STATUS[status] ?? 'bad_request', `The request was refused (HTTP ${status}).`);
}

/**
 * 503 `database_unavailable`: PostgreSQL is restarting, failing over or unreachable. Not the
 * client's fault and not a bug: the same request will work shortly, so the answer says to retry.
 */
function databaseUnavailable(message = 'The database is unavailable right now, so the request could not be completed. Retry shortly; with the same Idempotency-Key a retry is safe.'): ApiError {
  return new ApiError(503, 'database_unavailable', message, undefined, { 'retry-after': '1' });
}

/** Logs an outage without its stack: during one, every request fails the same way. */
function logDatabaseUnavailable(logger: Logger, error: unknown): void {
  logger.warn({ reason: error instanceof Error ? error.message.trim().split('\n').at(-1) : String(error) }, 'database unavailable; answered 503');
}

/**
 * Any failure as the API answers it, for both servers (Express and the lean usage handler): the
 * client's fault keeps its 4xx, an unreachable database is a 503, anything else is logged and a
 * 500. `wording` lets each server say what a retry means for its requests.
 */
export function apiErrorOf(error: unknown, logger: Logger, wording: { unavailable?: string; internal: string }): ApiError {
  const client = clientError(error);
  if (client) return client;
  if (isDatabaseUnavailable(error)) {
    logDatabaseUnavailable(logger, error);
    return databaseUnavailable(wording.unavailable);
  }
  logger.error({ err: error }, 'unhandled error');
  return new ApiError(500, 'internal_error', wording.internal);
}

const ANSWERED_CODE = 'answeredErrorCode';

/** The code of the error this response answered (the audit log keeps it), or undefined. */
export function answeredErrorCode(res: Response): string | undefined {
  const code: unknown = res.locals[ANSWERED_CODE];
  return typeof code === 'string' ? code : undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) return next(error);
    const apiError = apiErrorOf(error, logger, { internal: 'Something went wrong on our side; nothing was changed if the request did not complete.' });
    if (apiError.headers) res.set(apiError.headers);
    res.locals[ANSWERED_CODE] = apiError.code;
    res.status(apiError.status).json(errorBody(apiError));
  };
}
