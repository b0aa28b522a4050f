import pg from "pg";
import { inject } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase } from "../support/postgres-server.js";
import { describeStoreContract } from "./store-contract.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const schemaPool = new pg.Pool({ connectionString: databaseUrl });
await migrate(schemaPool);

describeStoreContract("postgres", async () => {
  await schemaPool.query(
    "TRUNCATE otp_users, otp_codes, otp_attempts, otp_slots, otp_idempotency, otp_sessions",
  );
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  const store = createPostgresStore(pool);
  return { store, dispose: () => store.close() };
});
