/**
 * What `npm test`, `npm start` and `npm run bench` need before they run: the generated Prisma
 * client (offline: PRISMA_SCHEMA_ENGINE_BINARY stops the CLI from downloading a schema engine that
 * `generate` does not use), the Temporal binaries and stripe-mock, and with `--browser` (npm test)
 * Chromium (scripts/tools.ts).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, findChromium, findStripeMock, findTemporalCli, findTemporalTestServer, projectRoot } from './tools.js';

export function generatePrismaClient(): void {
  const result = spawnSync(process.execPath, [path.join(projectRoot, 'node_modules', 'prisma', 'build', 'index.js'), 'generate'], {
    cwd: projectRoot,
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/true', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`\`prisma generate\` failed (run \`npm ci\` first so node_modules/prisma exists):\n${result.stderr}${result.stdout}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    generatePrismaClient();
    process.stderr.write('[prepare] Prisma client generated\n');
    // --prisma-only: images and deployments that talk to a real Temporal server need no binaries.
    if (!process.argv.includes('--prisma-only')) {
      process.stderr.write(`[prepare] Temporal CLI: ${describe(findTemporalCli())}\n`);
      process.stderr.write(`[prepare] Temporal test server: ${describe(findTemporalTestServer())}\n`);
      process.stderr.write(`[prepare] stripe-mock: ${findStripeMock()}\n`);
      // The browser tests only; `npm start` and the bench never open a browser.
      if (process.argv.includes('--browser')) process.stderr.write(`[prepare] Chromium: ${findChromium()}\n`);
    }
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
