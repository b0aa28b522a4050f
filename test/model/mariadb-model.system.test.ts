import mysql from "mysql2/promise";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/mysql/migrations.js";
import { createMysqlStore } from "../../src/storage/mysql/mysql-store.js";
import { poolSettings } from "../../src/storage/mysql/open-mysql.js";
import { createMysqlDatabase, truncateAllMysql } from "../support/mariadb-server.js";
import { describeRacesOn, describeSequencesOn } from "./database-model-suites.js";

// The model-based tests on MariaDB (STORAGE=mysql's store), as many runs as on PostgreSQL:
// sequences and races in one file (about 8 seconds).

const url = await createMysqlDatabase(inject("mariadbUrl"));
const schema = await mysql.createConnection({ uri: url });
await migrate(schema);
const store = createMysqlStore(mysql.createPool({ ...poolSettings(url), connectionLimit: 4 }));
const empty = () => truncateAllMysql(schema);

afterAll(async () => {
  await store.close();
  await schema.end();
});

describeSequencesOn("MariaDB", store, empty, 100);
describeRacesOn("MariaDB", store, empty, 200);
