/**
 * One error shape for every failure: `{ "error": { "code", "message", "details"? } }`. Codes are
 * stable (clients branch on them); messages are for humans.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
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

interface BodyParserError {
  type?: string;
  status?: number;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    let apiError: ApiError;
    const parserError = error as BodyParserError;
    if (error instanceof ApiError) apiError = error;
    else if (parserError?.type === 'entity.parse.failed') apiError = new ApiError(400, 'invalid_json', 'The request body is not valid JSON.');
    else if (parserError?.type === 'entity.too.large') apiError = new ApiError(413, 'payload_too_large', 'The request body is too large.');
    else if (parserError?.type === 'encoding.unsupported' || parserError?.type === 'charset.unsupported') {
      apiError = new ApiError(415, 'unsupported_media_type', 'The request body encoding is not supported; send UTF-8 JSON.');
    } else {
      logger.error({ err: error }, 'unhandled error');
      apiError = new ApiError(500, 'internal_error', 'Something went wrong on our side; nothing was changed if the request did not complete.');
    }
    res.status(apiError.status).json(errorBody(apiError));
  };
}
