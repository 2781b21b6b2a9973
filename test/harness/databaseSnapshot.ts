/** Every table's row count and a digest of its rows (names read from information_schema): compare two to prove nothing was written. */
import type { Db } from '../../store/db.js';

export async function snapshotTables(db: Db): Promise<Record<string, string>> {
  const tables = await db.$queryRawUnsafe<Array<{ table_name: string }>>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  const result: Record<string, string> = {};
  for (const { table_name: name } of tables) {
    const quoted = `"${name.replace(/"/g, '""')}"`;
    const [row] = await db.$queryRawUnsafe<Array<{ rows: number; digest: string }>>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest FROM ${quoted} t`,
    );
    result[name] = `${row!.rows} rows, ${row!.digest}`;
  }
  return result;
}
