/**
 * The one strict JSON body reader, used by the Express app (jsonBody) and the lean usage handler.
 * In order: Content-Type must be JSON (UTF-8), the raw size is bounded (413), Content-Encoding is
 * undone with a bounded output (decodeContentEncoding.ts), the bytes must be valid UTF-8 — never
 * silently replaced by U+FFFD, which could merge two different idempotency keys — then JSON.parse,
 * then checkJsonValue (depth, NUL, lone surrogates). Every refusal is an ApiError with a 4xx.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { ApiError } from '../errors.js';
import { checkJsonValue } from './checkJsonValue.js';
import { decodeContentEncoding, decoderFor } from './decodeContentEncoding.js';

export interface JsonBodyOptions {
  /** Largest body accepted, both as sent and after Content-Encoding is undone. */
  limitBytes: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Methods whose bodies the API reads; a GET's body has no meaning here and is left unread. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > 0;
}

/** Throws unless the Content-Type is JSON with no charset or a UTF-8 one. */
function checkContentType(header: string | undefined): void {
  const [mediaType = '', ...parameters] = (header ?? '').split(';');
  if (mediaType.trim().toLowerCase() !== 'application/json') {
    throw new ApiError(400, 'invalid_json', 'Send a JSON object with `Content-Type: application/json`.');
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new ApiError(415, 'unsupported_media_type', 'JSON bodies must be UTF-8; drop the charset or send `charset=utf-8`.');
    }
  }
}

/** The body as sent, bounded (413 past the limit); for signature checks over the exact bytes. */
export function readRaw(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped (not kept), so the 413 can still be answered.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > limitBytes) reject(new ApiError(413, 'payload_too_large', `The request body is larger than ${limitBytes} bytes.`));
      else resolve(Buffer.concat(chunks, size));
    });
    // The client went away mid-body: nobody will read the answer, but it must not be a 500.
    const incomplete = () => reject(new ApiError(400, 'invalid_json', 'The request body ended before it was complete.'));
    req.on('error', incomplete);
    req.on('close', () => { if (!req.readableEnded) incomplete(); });
  });
}

/** The parsed body, or undefined when the request has none. */
export async function readJsonBody(req: IncomingMessage, options: JsonBodyOptions): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  try {
    checkContentType(req.headers['content-type']);
    const decoder = decoderFor(req.headers['content-encoding']);
    if (Number(req.headers['content-length']) > options.limitBytes) {
      throw new ApiError(413, 'payload_too_large', `The request body is larger than ${options.limitBytes} bytes.`);
    }
    let bytes = await readRaw(req, options.limitBytes);
    if (decoder) bytes = await decodeContentEncoding(decoder, bytes, options.limitBytes);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new ApiError(400, 'invalid_utf8', 'The request body is not valid UTF-8.');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'invalid_json', 'The request body is not valid JSON.');
    }
    checkJsonValue(value);
    return value;
  } finally {
    // Refused before (or while) reading: drain what is left so the connection can answer.
    if (!req.readableEnded) req.resume();
  }
}

/** Express middleware: `req.body` is the checked JSON value, or undefined when there is no body. */
export function jsonBody(options: JsonBodyOptions): RequestHandler {
  return (req, _res, next) => {
    if (!BODY_METHODS.has(req.method)) return next();
    readJsonBody(req, options).then((body: unknown) => {
      req.body = body;
      next();
    }, next);
  };
}
