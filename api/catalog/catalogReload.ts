/**
 * Reloading the API's catalog without a restart (SIGHUP, as the worker). The new file must parse
 * and validate, and must still price every plan and interval a subscription is on or scheduled
 * for (billing/catalogFit.ts, the worker's rule); otherwise the API keeps the catalog it has and
 * says why in its log.
 */
import type { Logger } from 'pino';
import type { Catalog } from '../../billing/catalog.js';
import { catalogFitProblems } from '../../billing/catalogFit.js';
import { termsInUse } from '../../store/catalogStore.js';
import type { Db } from '../../store/db.js';
import type { LiveCatalog } from './liveCatalog.js';

export type CatalogReload = { reloaded: true; version: string; previous: string } | { reloaded: false; problems: string[] };

export function reloadCatalog(args: { live: LiveCatalog; db: Db; load: () => Catalog; logger?: Logger }): Promise<CatalogReload> {
  // One at a time, and the file read inside: the reload that runs last read the file last.
  return args.live.serially(() => reloadNow(args));
}

async function reloadNow(args: { live: LiveCatalog; db: Db; load: () => Catalog; logger?: Logger }): Promise<CatalogReload> {
  const { live, logger } = args;
  const previous = live.version;
  let next: Catalog;
  try {
    next = args.load();
  } catch (error) {
    logger?.error({ err: error }, 'catalog reload refused: the file is not a valid catalog; keeping the current one');
    return { reloaded: false, problems: [(error as Error).message] };
  }
  const problems = catalogFitProblems(next, await termsInUse(args.db));
  if (problems.length > 0) {
    logger?.error({ problems }, 'catalog reload refused: it no longer prices what subscriptions use; keeping the current one');
    return { reloaded: false, problems };
  }
  live.replace(next);
  logger?.info({ version: live.version, previous }, 'catalog reloaded');
  return { reloaded: true, version: live.version, previous };
}
