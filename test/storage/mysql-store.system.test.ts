import mysql from "mysql2/promise";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/mysql/migrations.js";
import { createMysqlStore } from "../../src/storage/mysql/mysql-store.js";
import { poolSettings } from "../../src/storage/mysql/open-mysql.js";
import { createMysqlDatabase, truncateAllMysql } from "../support/mariadb-server.js";
import { describeDatabaseStoreCases } from "./database-store-cases.js";
import { describeStoreContract, type StoreUnderTest } from "./store-contract.js";

// The store contract, races included, on the run's MariaDB server (Debian's mariadb-server), in a
// database of this file's own, emptied before each test.

const url = await createMysqlDatabase(inject("mariadbUrl"));
const schema = await mysql.createConnection({ uri: url });
await migrate(schema);
afterAll(() => schema.end());

const openStore = (idempotencyLeaseMs?: number) => async (): Promise<StoreUnderTest> => {
  await truncateAllMysql(schema);
  const store = createMysqlStore(mysql.createPool(poolSettings(url)), { idempotencyLeaseMs });
  return { store, dispose: () => store.close() };
};

describeStoreContract("mysql (MariaDB)", openStore());

describeDatabaseStoreCases("mysql (MariaDB)", {
  open: openStore(),
  openWithShortLease: openStore(200),
});
