import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Temporal native bridge crashes in worker threads; forks are safe.
    pool: 'forks',
    // Two cores: run files one or two at a time so servers and workers are not starved.
    maxWorkers: 2,
    globalSetup: ['test/harness/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
