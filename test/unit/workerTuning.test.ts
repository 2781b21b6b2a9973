import { describe, expect, it } from 'vitest';
import { loadWorkerSettings } from '../../config/settings.js';
import { readFileSync } from 'node:fs';
import { WORKER_NODE_ARGS } from '../../worker/heapLimit.js';
import { WORKER_TUNING_DEFAULTS, workerTuning } from '../../worker/workerTuning.js';

const base = { DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/db' };

describe('worker tuning', () => {
  it('ships the storm-tested defaults when nothing is set', () => {
    expect(workerTuning(loadWorkerSettings(base))).toEqual({
      maxCachedWorkflows: 250,
      maxConcurrentWorkflowTaskExecutions: 40,
      maxConcurrentActivityTaskExecutions: 100,
      maxConcurrentLocalActivityExecutions: 20,
      stickyQueueScheduleToStartTimeout: '600 seconds',
    });
    expect(loadWorkerSettings(base).WORKER_DB_CONNECTIONS).toBe(20);
  });

  it('takes WORKER_* overrides from the environment', () => {
    const settings = loadWorkerSettings({ ...base, WORKER_MAX_CACHED_WORKFLOWS: '2000', WORKER_MAX_WORKFLOW_TASKS: '80', WORKER_MAX_ACTIVITIES: '30', WORKER_STICKY_TIMEOUT_SECONDS: '30', WORKER_DB_CONNECTIONS: '40' });
    expect(workerTuning(settings)).toMatchObject({
      maxCachedWorkflows: 2000,
      maxConcurrentWorkflowTaskExecutions: 80,
      maxConcurrentActivityTaskExecutions: 30,
      stickyQueueScheduleToStartTimeout: '30 seconds',
    });
    expect(settings.WORKER_DB_CONNECTIONS).toBe(40);
  });

  it('keeps the cache at least as large as the workflow task slots, as the SDK requires', () => {
    expect(workerTuning({ WORKER_MAX_CACHED_WORKFLOWS: 10, WORKER_MAX_WORKFLOW_TASKS: 60 }).maxCachedWorkflows).toBe(60);
    expect(WORKER_TUNING_DEFAULTS.maxCachedWorkflows).toBeGreaterThanOrEqual(WORKER_TUNING_DEFAULTS.maxConcurrentWorkflowTaskExecutions);
  });

  it('refuses a disabled cache and nonsense numbers at start-up', () => {
    expect(() => loadWorkerSettings({ ...base, WORKER_MAX_CACHED_WORKFLOWS: '0' })).toThrow(/WORKER_MAX_CACHED_WORKFLOWS/);
    expect(() => loadWorkerSettings({ ...base, WORKER_MAX_WORKFLOW_TASKS: 'lots' })).toThrow(/WORKER_MAX_WORKFLOW_TASKS/);
  });

  it('npm run worker starts node with the same heap limit as npm start and the storm bench', () => {
    const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.worker).toBe(`tsx ${WORKER_NODE_ARGS.join(' ')} worker/main.ts`);
  });
});
