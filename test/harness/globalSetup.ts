/**
 * Starts the real servers the whole run shares, on free ports, and removes them afterwards:
 * an embedded PostgreSQL (each test file makes its own database on it) and a Temporal CLI dev
 * server (each test file uses its own task queue). The Java time-skipping test server is started
 * per file (test/harness/timeSkipping.ts) because its clock is global.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../scripts/services/freePort.js';
import { startPostgres } from '../../scripts/services/postgres.js';
import { startTemporalDevServer } from '../../scripts/services/temporalDevServer.js';
import { findTemporalTestServer } from '../../scripts/tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    temporalAddress: string;
    testServerPath: string;
  }
}

export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tollgate-test-'));
  chmodSync(root, 0o755); // PostgreSQL runs as user `postgres` when we are root
  const [pgResult, temporalResult] = await Promise.allSettled([
    freePort().then((port) => startPostgres({ dataDir: path.join(root, 'pg', 'data'), port, persistent: false })),
    freePort().then((port) => startTemporalDevServer({ port })),
  ]);
  if (pgResult.status === 'rejected' || temporalResult.status === 'rejected') {
    if (pgResult.status === 'fulfilled') await pgResult.value.stop();
    if (temporalResult.status === 'fulfilled') await temporalResult.value.stop();
    rmSync(root, { recursive: true, force: true });
    throw pgResult.status === 'rejected' ? pgResult.reason : (temporalResult as PromiseRejectedResult).reason;
  }
  const postgres = pgResult.value;
  const temporal = temporalResult.value;
  const testServer = findTemporalTestServer();
  project.provide('postgresAdminUrl', postgres.url('postgres'));
  project.provide('temporalAddress', temporal.address);
  project.provide('testServerPath', testServer.kind === 'path' ? testServer.path : '');
  return async () => {
    await Promise.allSettled([postgres.stop(), temporal.stop()]);
    rmSync(root, { recursive: true, force: true });
  };
}
