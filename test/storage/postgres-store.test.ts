import pg from "pg";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { describeDatabaseStoreCases } from "./database-store-cases.js";
import { createContractDatabase } from "./postgres-contract-database.js";
import { describeStoreContract } from "./store-contract.js";

const database = await createContractDatabase();
const open = database.openStore(database.url, "none");

describeStoreContract("postgres", open);

describeDatabaseStoreCases("postgres", {
  open,
  async openWithShortLease() {
    await database.schemaPool.query("TRUNCATE otp_idempotency");
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    const store = createPostgresStore(pool, { idempotencyLease: "200 milliseconds" });
    return { store, dispose: () => store.close() };
  },
});
