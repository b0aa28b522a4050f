import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { poolSettings } from "../../src/storage/postgres/open-postgres.js";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase } from "../support/postgres-server.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const bouncer = await startPgBouncer(inject("postgresUrl"));
afterAll(() => bouncer.destroy());

async function statementTimeout(url: string, pooler: "none" | "transaction"): Promise<string> {
  const pool = new pg.Pool({ connectionString: url, ...poolSettings(pooler) });
  try {
    const { rows } = await pool.query<{ statement_timeout: string }>("SHOW statement_timeout");
    return rows[0]?.statement_timeout ?? "";
  } finally {
    await pool.end();
  }
}

describe("the pool's statement bounds", () => {
  it("directly, the server stops a statement after 2 seconds too", async () => {
    expect(await statementTimeout(databaseUrl, "none")).toBe("2s");
  });

  it("behind a transaction pooler, sets nothing on the shared server connections", async () => {
    // A session setting would outlive our transaction and bind other clients of the pooler.
    expect(await statementTimeout(bouncer.urlFor(databaseUrl), "transaction")).toBe("0");
  });

  it("behind a transaction pooler, the client still gives up after 2 seconds", async () => {
    const pool = new pg.Pool({
      connectionString: bouncer.urlFor(databaseUrl),
      ...poolSettings("transaction"),
    });
    try {
      const started = Date.now();
      await expect(pool.query("SELECT pg_sleep(5)")).rejects.toThrow(/Query read timeout/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await pool.end();
    }
  });
});
