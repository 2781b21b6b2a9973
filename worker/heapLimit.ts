/**
 * The worker's V8 heap limit, given to `node` when the worker process starts (`npm run worker`,
 * `npm start`, the storm bench). Without it V8 lets garbage pile up to a limit sized from the
 * machine's memory: in a renewal storm of 10,000 subscriptions the worker peaked at 1,066 MiB
 * resident; with this limit (and the 250-workflow cache of worker/workerTuning.ts) at 614 MiB,
 * 7.3 MiB per 1,000 live subscriptions (`npm run bench:storm`, 2026-11-26). The limit applies to
 * each isolate: the main thread and the workflow thread, whose cached workflows take ~0.35 MiB
 * each, so a much larger WORKER_MAX_CACHED_WORKFLOWS needs a larger limit (edit both places:
 * here and the `worker` script in package.json, which test/unit/workerTuning.test.ts compares).
 */
export const WORKER_HEAP_LIMIT_MB = 512;

/** The node options the worker process starts with. */
export const WORKER_NODE_ARGS: readonly string[] = [`--max-old-space-size=${WORKER_HEAP_LIMIT_MB}`];
