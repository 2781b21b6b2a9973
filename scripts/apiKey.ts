/**
 * `npm run api-key -- create <name> <scope>…`: makes a server key without the API (the first one,
 * say), straight in the database; `npm run api-key -- list` lists them; `revoke <name>` revokes one.
 * The database is DATABASE_URL, else the one `npm start` runs (TOLLGATE_PG_PORT, default 54329).
 * The secret is printed once and stored only as its SHA-256 (api/access/secrets.ts).
 */
import { apiKeyView, createApiKey } from '../api/routes/apiKeyRoutes.js';
import { createApiKeyBody } from '../api/access/credentialSchemas.js';
import { SCOPES } from '../api/access/scopes.js';
import { ApiError } from '../api/errors.js';
import { createDb } from '../store/db.js';
import { embeddedPostgresUrl } from './services/postgres.js';

const USAGE = `usage: npm run api-key -- create <name> <scope>…   (scopes: ${SCOPES.join(', ')})
       npm run api-key -- list
       npm run api-key -- revoke <name>`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  const url = process.env.DATABASE_URL ?? embeddedPostgresUrl(Number(process.env.TOLLGATE_PG_PORT ?? 54329), 'tollgate');
  const db = createDb(url, { maxConnections: 1 });
  try {
    await db.$queryRaw`SELECT 1`.catch(() => fail(`cannot reach the database at ${url.replace(/:[^:@/]*@/, ':***@')}: start Tollgate with \`npm start\` first, or set DATABASE_URL.`));
    if (command === 'create') {
      const parsed = createApiKeyBody.safeParse({ name: args[0], scopes: args.slice(1) });
      if (!parsed.success) fail(`${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('\n')}\n${USAGE}`);
      const { key, secret } = await createApiKey(db, parsed.data, new Date());
      process.stdout.write(`created key "${key.name}" (${key.scopes.join(', ')}), id ${key.id}\n${secret}\nKeep it now: it is not shown again.\n`);
    } else if (command === 'list') {
      for (const key of (await db.apiKey.findMany({ orderBy: { createdAt: 'asc' } })).map(apiKeyView)) {
        process.stdout.write(`${key.name}\t${key.scopes.join(',')}\t${key.prefix}…\tcreated ${key.createdAt}\tlast used ${key.lastUsedAt ?? 'never'}${key.revokedAt ? `\trevoked ${key.revokedAt}` : ''}\n`);
      }
    } else if (command === 'revoke' && args[0]) {
      const { count } = await db.apiKey.updateMany({ where: { name: args[0], revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) fail(`no active key named "${args[0]}"`);
      process.stdout.write(`revoked "${args[0]}" (API processes stop taking it within 5 s)\n`);
    } else {
      fail(USAGE);
    }
  } catch (error) {
    fail(error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error));
  } finally {
    await db.$disconnect();
  }
}

void main();
