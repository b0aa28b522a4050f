import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { poolSettings } from "../../src/storage/postgres/open-postgres.js";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase } from "../support/postgres-server.js";
import { sessionStatementTimeout } from "./session-statement-timeout.js";

// pool-settings.test.ts's bounds behind a transaction pooler: PgBouncer, default settings.

const databaseUrl = await createDatabase(inject("postgresUrl"));
const bouncer = await startPgBouncer(inject("postgresUrl"));
afterAll(() => bouncer.destroy());

describe("the pool's statement bounds", () => {
  it("behind a transaction pooler, sets nothing on the shared server connections", async () => {
    // A session setting would outlive our transaction and bind other clients of the pooler.
    expect(await sessionStatementTimeout(bouncer.urlFor(databaseUrl), "transaction")).toBe("0");
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
