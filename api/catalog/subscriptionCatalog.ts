/**
 * The catalog a subscription decides its changes with: its workflow's own copy, which it swaps for
 * an edited one only at a renewal. Found by the version its read model names (store/catalogStore.ts);
 * a copy no process stored (a run begun before catalog versions existed) is asked of the workflow
 * itself (`catalog.v1` query) and stored, so the next preview finds it in the database.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Catalog } from '../../billing/catalog.js';
import { catalogVersionOf } from '../../billing/catalogVersion.js';
import { rememberCatalog } from '../../store/catalogStore.js';
import type { Db } from '../../store/db.js';
import { catalogQuery, subscriptionWorkflowId } from '../../workflows/messages.js';
import type { LiveCatalog } from './liveCatalog.js';

/** How long a preview waits for the workflow's answer before previewing with the current catalog. */
const QUERY_WAIT_MS = 5_000;

export interface SubscriptionCatalog {
  catalog: Catalog;
  version: string;
}

export async function subscriptionCatalogOf(args: {
  catalogs: LiveCatalog;
  db: Db;
  customerId: string;
  /** The version the read model names (absent on rows written before catalog versions). */
  version: string | undefined;
  /** To ask the workflow when the version is not stored; absent: stored copies only. */
  temporal?: Client;
  logger?: Logger;
}): Promise<SubscriptionCatalog | undefined> {
  const stored = await args.catalogs.forVersion(args.version);
  if (stored) return { catalog: stored, version: args.version! };
  if (!args.temporal) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const asked = args.temporal.workflow.getHandle(subscriptionWorkflowId(args.customerId)).query(catalogQuery);
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), QUERY_WAIT_MS); });
    const catalog = await Promise.race([asked, timeout]);
    if (!catalog) return undefined;
    await rememberCatalog(args.db, catalog);
    args.catalogs.versions.keep(catalog);
    return { catalog, version: catalogVersionOf(catalog) };
  } catch (error) {
    args.logger?.warn({ err: error, customerId: args.customerId }, 'could not ask the subscription for its catalog; previewing with the current one');
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
