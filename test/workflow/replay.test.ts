/**
 * Replays every stored subscription history (test/histories/<label>/*.json, recorded by
 * test/histories/record.ts) against today's workflow code. A change that would make a running
 * subscription non-deterministic fails here: ship it under `patched()` and record a new label
 * beside the old ones (docs/architecture.md, "Shipping a workflow change").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../worker/createWorker.js';

const historiesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'histories');

const histories = readdirSync(historiesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .flatMap((dir) => readdirSync(path.join(historiesDir, dir.name))
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ label: dir.name, name: file.replace(/\.json$/, ''), file: path.join(historiesDir, dir.name, file) })));

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this process
  }
});

describe('stored histories replay on the current workflow code', () => {
  it('has histories of several recordings to replay', () => {
    expect(new Set(histories.map((h) => h.label)).size).toBeGreaterThanOrEqual(1);
    expect(histories.length).toBeGreaterThanOrEqual(10);
  });

  it('replays every one without a determinism error', async () => {
    const inputs = histories.map((h) => ({ workflowId: `${h.label}/${h.name}`, history: historyFromJSON(JSON.parse(readFileSync(h.file, 'utf8'))) }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH, replayName: 'tollgate-replay' }, inputs)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(inputs.length);
  }, 120_000);
});
