import pg from "pg";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import type { Pooler } from "../../src/storage/postgres/query.js";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase } from "../support/postgres-server.js";
import { describeStoreContract } from "./store-contract.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const schemaPool = new pg.Pool({ connectionString: databaseUrl });
await migrate(schemaPool);
// PgBouncer in transaction pooling mode with its default settings, in front of the same database.
const bouncer = await startPgBouncer(inject("postgresUrl"));
afterAll(() => bouncer.destroy());

function openStore(url: string, pooler: Pooler) {
  return async () => {
    await schemaPool.query(
      "TRUNCATE otp_users, otp_codes, otp_attempts, otp_slots, otp_idempotency",
    );
    const pool = new pg.Pool({ connectionString: url, max: 20 });
    const store = createPostgresStore(pool, pooler);
    return { store, dispose: () => store.close() };
  };
}

describeStoreContract("postgres", openStore(databaseUrl, "none"));

describeStoreContract(
  "postgres behind PgBouncer (transaction pooling)",
  openStore(bouncer.urlFor(databaseUrl), "transaction"),
);
