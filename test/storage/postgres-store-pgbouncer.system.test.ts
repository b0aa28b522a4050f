import { afterAll, inject } from "vitest";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createContractDatabase } from "./postgres-contract-database.js";
import { describeStoreContract } from "./store-contract.js";

// postgres-store.test.ts's contract, through PgBouncer in transaction pooling mode with its
// default settings, in front of the same server.

const database = await createContractDatabase();
const bouncer = await startPgBouncer(inject("postgresUrl"));
afterAll(() => bouncer.destroy());

describeStoreContract(
  "postgres behind PgBouncer (transaction pooling)",
  database.openStore(bouncer.urlFor(database.url), "transaction"),
);
