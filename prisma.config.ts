// Prisma CLI configuration. Tollgate applies its SQL migrations itself (prisma/migrate.ts) because
// the schema engine `prisma migrate` needs cannot be installed everywhere; where it can,
// `prisma migrate deploy` reads the same folder and the same `_prisma_migrations` records.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/tollgate' },
});
