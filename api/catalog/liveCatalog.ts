/**
 * The API's catalog, replaceable while it runs: SIGHUP reloads the file (api/main.ts), as the
 * worker does, and requests read the current one each time. Beside it, the catalogs subscriptions
 * hold, by version (store/catalogStore.ts: each is stored in the transaction that creates a
 * customer on it, or that hands it to a subscription at a renewal).
 */
import type { Catalog } from '../../billing/catalog.js';
import { catalogVersionOf } from '../../billing/catalogVersion.js';
import { CatalogVersions } from '../../store/catalogStore.js';
import type { Db } from '../../store/db.js';

export class LiveCatalog {
  private catalog: Catalog;
  private readonly listeners: Array<(catalog: Catalog) => void> = [];
  private reloading: Promise<unknown> = Promise.resolve();
  readonly versions: CatalogVersions;

  constructor(db: Db, initial: Catalog) {
    this.catalog = initial;
    this.versions = new CatalogVersions(db);
    this.versions.keep(initial);
  }

  current(): Catalog {
    return this.catalog;
  }

  get version(): string {
    return catalogVersionOf(this.catalog);
  }

  /** Makes `next` current. */
  replace(next: Catalog): void {
    this.versions.keep(next);
    this.catalog = next;
    for (const listener of this.listeners) listener(next);
  }

  /** Runs reloads one after the other, so two quick SIGHUPs end with the file the last one read. */
  serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.reloading.then(work, work);
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** Called with each catalog that becomes current. */
  onChange(listener: (catalog: Catalog) => void): void {
    this.listeners.push(listener);
  }

  /** The catalog a subscription's workflow decides with, by the version its read model names; undefined when unknown. */
  async forVersion(version: string | undefined): Promise<Catalog | undefined> {
    if (version === undefined) return undefined;
    if (version === this.version) return this.catalog;
    return this.versions.find(version);
  }
}
