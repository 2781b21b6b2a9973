/** A fresh, migrated database per test file on the run's PostgreSQL server. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '../../store/db.js';
import { migrate } from '../../prisma/migrate.js';

export interface TestDatabase {
  url: string;
  db: Db;
  close(): Promise<void>;
}

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(adminUrl);
  target.pathname = `/${name}`;
  const url = target.toString();
  if (options.migrate !== false) await migrate(url);
  const db = createDb(url, { maxConnections: 5 });
  return { url, db, close: () => db.$disconnect() };
}
