/**
 * How the workflow bundle is built, shared by the worker and the tests' prebuilt bundles.
 *
 * With the SDK's reusable V8 context, every module a workflow loads is instantiated again for
 * each cached workflow (module state stays per workflow), except the modules preloaded here:
 * those are instantiated once and shared. zod (the catalog schema) and the pure billing rules
 * make up most of the bundle and hold no per-workflow state (billing/ is pure: no module-level
 * variables, no I/O, no Temporal imports — the layout rule in docs/architecture.md), so sharing
 * them is safe and takes their weight off every cached subscription. Workflow modules
 * (workflows/) and the SDK's own are not preloaded: they hold per-workflow state.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const billingDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'billing');

export const PRELOADED_WORKFLOW_MODULES: string[] = [
  'zod',
  ...readdirSync(billingDir).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')).sort().map((file) => path.join(billingDir, file)),
];

export const WORKFLOW_BUNDLER_OPTIONS = { preloadModules: PRELOADED_WORKFLOW_MODULES };
