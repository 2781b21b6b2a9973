/**
 * The API's HTTP server: usage routes go to the lean handler (api/usage), everything else to the
 * Express app. One auth check and one catalog serve both.
 */
import http from 'node:http';
import pg from 'pg';
import type { Express } from 'express';
import { apiKeyCheck } from './auth.js';
import { createApp, type AppDeps } from './createApp.js';
import { createUsageHandler } from './usage/usageHandler.js';
import { UsageRecorder, type RecorderOptions } from './usage/usageRecorder.js';

export interface ServerDeps extends Omit<AppDeps, 'checkApiKey'> {
  databaseUrl: string;
  recorder?: RecorderOptions;
}

export function createServer(deps: ServerDeps): { server: http.Server; app: Express; close(): Promise<void> } {
  const checkApiKey = apiKeyCheck(deps.operatorKey);
  // The hot path uses node-postgres directly (store/usageLedger.ts); Prisma serves the rest.
  const pool = new pg.Pool({ connectionString: deps.databaseUrl, max: 10 });
  const recorder = new UsageRecorder(pool, () => deps.catalog, deps.recorder);
  const usage = createUsageHandler({ recorder, pool, catalog: () => deps.catalog, checkApiKey, logger: deps.logger, now: deps.now });
  const app = createApp({ ...deps, checkApiKey });
  const server = http.createServer((req, res) => {
    if (!usage(req, res)) app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  return {
    server,
    app,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
