/**
 * A fresh database with a pool shaped like the API's usage pool (pipelining: BEGIN, COMMIT and
 * the ledger's statements go out together, store/usageLedger.ts) and a catalog: what the ledger
 * tests drive store/usageLedger.ts with.
 */
import type pg from 'pg';
import type { Catalog } from '../../billing/catalog.js';
import { loadCatalog } from '../../config/loadCatalog.js';
import { createPool } from '../../store/db.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface LedgerDatabase {
  database: TestDatabase;
  pool: pg.Pool;
  catalog: Catalog;
  close(): Promise<void>;
}

export async function openLedgerDatabase(catalogFile?: string): Promise<LedgerDatabase> {
  const database = await createTestDatabase();
  const pool = createPool(database.url, { max: 8, name: 'ledger-test', pipeline: true });
  return {
    database,
    pool,
    catalog: loadCatalog(catalogFile),
    async close() {
      await pool.end();
      await database.close();
    },
  };
}
