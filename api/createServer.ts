/**
 * The API's HTTP server: usage routes go to the lean handler (api/usage), everything else to the
 * Express app. One auth check and one catalog serve both.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { createPool } from '../store/db.js';
import { accessOf, createApp, type AppDeps } from './createApp.js';
import { ApiError, errorBody } from './errors.js';
import { createUsageHandler } from './usage/usageHandler.js';
import { CounterPublisher } from './usage/counterPublisher.js';
import { UsageRecorder, type RecorderOptions } from './usage/usageRecorder.js';
import { UsageView } from './usage/usageView.js';
import { CustomerTime } from './testClocks/customerTime.js';
import { startTestClockFinisher } from './testClocks/testClockCatchUp.js';
import { LiveCatalog } from './catalog/liveCatalog.js';

export interface ServerDeps extends Omit<AppDeps, 'access'> {
  databaseUrl: string;
  recorder?: RecorderOptions;
  /** The check's in-process view (api/usage/usageView.ts): customers kept at most, and an entry's age limit. */
  usageView?: { maxCustomers?: number; maxAgeMs?: number };
}

export interface TollgateServer {
  server: http.Server;
  app: Express;
  /** The allow/refuse check's in-process view (its stats tell how checks were answered). */
  usageView: UsageView;
  /** Resolves once the usage view listens (or failed to for the first time; it keeps trying). */
  ready: Promise<void>;
  /** The catalog as served; `reloadCatalog` (api/catalog/catalogReload.ts) replaces it. */
  catalogs: LiveCatalog;
  close(): Promise<void>;
}

export function createServer(deps: ServerDeps): TollgateServer {
  const access = accessOf(deps);
  // The hot path uses node-postgres directly (store/usageLedger.ts); Prisma serves the rest. The
  // pool survives PostgreSQL restarts (see createPool); requests meanwhile get 503s.
  const pool = createPool(deps.databaseUrl, { max: 10, logger: deps.logger, name: 'usage', pipeline: true });
  // Checks are answered from an in-process view kept fresh by this process's own commits (applied
  // before their requests are answered) and by the other processes' (sent after their commits).
  const usageView = new UsageView({ databaseUrl: deps.databaseUrl, pool, logger: deps.logger, ...deps.usageView });
  const publisher = new CounterPublisher(deps.databaseUrl, deps.logger);
  const catalogs = deps.catalogs ?? new LiveCatalog(deps.db, deps.catalog);
  const recorder = new UsageRecorder(pool, () => catalogs.current(), deps.recorder, (values) => {
    usageView.applyCounters(values);
    publisher.publish(values);
  });
  const time = new CustomerTime(deps.db, deps.testClocks ?? false, deps.now);
  const timeReady = time.init().catch((error: unknown) => {
    deps.logger.error({ err: error }, 'could not tell whether customers run on test clocks; reading clocks on every request');
  });
  const ready = Promise.all([usageView.start(), timeReady]).then(() => undefined);
  const usage = createUsageHandler({ recorder, view: usageView, catalog: () => catalogs.current(), access: access.check, logger: deps.logger, now: deps.now, time });
  const app = createApp({ ...deps, access, time, catalogs });
  const finisher = deps.testClocks ? startTestClockFinisher({ db: deps.db, temporal: deps.temporal, logger: deps.logger }) : undefined;
  const server = http.createServer((req, res) => {
    if (!usage(req, res)) app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerMalformedRequest(error, socket, deps.logger));
  return {
    server,
    app,
    usageView,
    ready,
    catalogs,
    async close() {
      await finisher?.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([usageView.close(), publisher.close()]);
      await pool.end();
    },
  };
}

/** Node's parser failures, answered in the API's error shape instead of Node's bare status line. */
function malformedRequestError(code: string | undefined): ApiError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(431, 'request_header_fields_too_large', 'The request headers are too large.');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ApiError(413, 'payload_too_large', 'The request\'s chunk extensions are too large.');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(408, 'request_timeout', 'The request was not received in time.');
    default:
      return new ApiError(400, 'bad_request', 'The request is not valid HTTP/1.1.');
  }
}

/**
 * Replaces Node's default 'clientError' answer. There is no request or response object here, so
 * the answer is written to the socket directly, and only when nothing of another response on this
 * connection has gone out yet (it would corrupt that one); the connection is closed either way.
 */
function answerMalformedRequest(error: NodeJS.ErrnoException, socket: Duplex, logger: Logger): void {
  // A client that went away (ECONNRESET) is owed no answer.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const apiError = malformedRequestError(error.code);
  logger.debug({ code: error.code, status: apiError.status }, 'malformed request');
  const body = JSON.stringify(errorBody(apiError));
  const head = [
    `HTTP/1.1 ${apiError.status} ${http.STATUS_CODES[apiError.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ].join('\r\n');
  // Closing only once the answer is flushed keeps it from being cut off.
  socket.end(`${head}\r\n\r\n${body}`, () => socket.destroy());
}
