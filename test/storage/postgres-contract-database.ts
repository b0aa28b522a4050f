import pg from "pg";
import { inject } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import type { Pooler } from "../../src/storage/postgres/query.js";
import { createDatabase, truncateAll } from "../support/postgres-server.js";
import type { StoreUnderTest } from "./store-contract.js";

/**
 * A fresh, migrated database on the run's PostgreSQL server, for the store contract suite
 * (postgres-store.test.ts directly, the .system file through PgBouncer). `openStore` makes the
 * suite's factory: each call empties the database, then opens a store reaching it at `url`, its
 * own URL or a pooler's in front of the same server.
 */
export async function createContractDatabase() {
  const url = await createDatabase(inject("postgresUrl"));
  const schemaPool = new pg.Pool({ connectionString: url });
  await migrate(schemaPool);
  const openStore = (storeUrl: string, pooler: Pooler) => async (): Promise<StoreUnderTest> => {
    await truncateAll(schemaPool);
    const pool = new pg.Pool({ connectionString: storeUrl, max: 20 });
    const store = createPostgresStore(pool, { pooler });
    return { store, dispose: () => store.close() };
  };
  return { url, schemaPool, openStore };
}
