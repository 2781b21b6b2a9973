/**
 * Catalogs by version (billing/catalogVersion.ts). A subscription's workflow holds its own copy of
 * the catalog and adopts an edited one only at a renewal, so the API, to preview a change exactly
 * as the workflow will decide it, looks that copy up here by the version the read model names.
 * Every copy a workflow can hold is written here first: in the transaction that creates a customer
 * (or an import batch) on it, and in the renewal transaction that hands a subscription a new one.
 */
import { catalogVersionOf } from '../billing/catalogVersion.js';
import type { Catalog } from '../billing/catalog.js';
import type { TermsInUse } from '../billing/catalogFit.js';
import type { Db } from './db.js';
import type { Tx } from './invoiceStore.js';

/** Stores a catalog under its version (nothing happens when it is there already). */
export async function rememberCatalog(db: Db | Tx, catalog: Catalog): Promise<string> {
  const version = catalogVersionOf(catalog);
  await db.$executeRaw`
    INSERT INTO catalog_versions (version, catalog) VALUES (${version}, ${JSON.stringify(catalog)}::jsonb)
    ON CONFLICT (version) DO NOTHING`;
  return version;
}

/**
 * Catalogs read by version, kept in memory: a version names one content for ever, so an entry
 * never goes stale. Bounded: a deployment has a handful of catalog edits, not thousands.
 */
export class CatalogVersions {
  private readonly known = new Map<string, Catalog>();

  constructor(private readonly db: Db, private readonly maxKept = 64) {}

  /** Registers a catalog this process holds (its current one), so it is never read back. */
  keep(catalog: Catalog): void {
    this.remember(catalogVersionOf(catalog), catalog);
  }

  /** The catalog stored under `version`, or undefined when no process ever stored it. */
  async find(version: string): Promise<Catalog | undefined> {
    const known = this.known.get(version);
    if (known) return known;
    const row = await this.db.catalogVersion.findUnique({ where: { version } });
    if (!row) return undefined;
    // Stored from a parsed catalog and used as stored, as the workflow uses its copy: parsing it
    // again could add defaults of a newer parser that the workflow's copy does not have.
    const catalog = row.catalog as unknown as Catalog;
    this.remember(version, catalog);
    return catalog;
  }

  private remember(version: string, catalog: Catalog): void {
    this.known.delete(version);
    this.known.set(version, catalog);
    while (this.known.size > this.maxKept) this.known.delete(this.known.keys().next().value!);
  }
}

/**
 * Every plan and interval some live subscription is on or scheduled for, with its currency and
 * cycle length. Customers of a deleted test clock are over (their workflows were terminated).
 */
export async function termsInUse(db: Db): Promise<TermsInUse[]> {
  const rows = await db.$queryRaw<Array<{ plan_id: string; interval: string; currency: string; cycle_ms: number }>>`
    WITH live AS (
      SELECT s.* FROM subscriptions s
        JOIN customers c ON c.id = s.customer_id
        LEFT JOIN test_clocks t ON t.id = c.test_clock_id
       WHERE t.status IS DISTINCT FROM 'deleted'
    )
    SELECT DISTINCT u.plan_id, u.interval, u.currency, u.cycle_ms FROM (
      SELECT plan_id, interval, currency, (EXTRACT(EPOCH FROM cycle_end - cycle_start) * 1000)::float8 AS cycle_ms FROM live
      UNION ALL
      SELECT coalesce(pending_plan_id, plan_id), coalesce(pending_interval, interval), currency, (EXTRACT(EPOCH FROM cycle_end - cycle_start) * 1000)::float8
        FROM live WHERE pending_plan_id IS NOT NULL OR pending_interval IS NOT NULL
    ) u`;
  return rows.map((row) => ({ planId: row.plan_id, interval: row.interval === 'yearly' ? 'yearly' : 'monthly', currency: row.currency, cycleLengthMs: Math.round(row.cycle_ms) }));
}
