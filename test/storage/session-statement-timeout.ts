import pg from "pg";
import { poolSettings } from "../../src/storage/postgres/open-postgres.js";

/**
 * The statement_timeout a connection of the service's pool (poolSettings(pooler)) reaching `url`
 * sees on the server: for pool-settings.test.ts directly, and its .system file through PgBouncer.
 */
export async function sessionStatementTimeout(
  url: string,
  pooler: "none" | "transaction",
): Promise<string> {
  const pool = new pg.Pool({ connectionString: url, ...poolSettings(pooler) });
  try {
    const { rows } = await pool.query<{ statement_timeout: string }>("SHOW statement_timeout");
    return rows[0]?.statement_timeout ?? "";
  } finally {
    await pool.end();
  }
}
