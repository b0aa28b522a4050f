import mysql from "mysql2/promise";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/mysql/migrations.js";
import { createMysqlStore } from "../../src/storage/mysql/mysql-store.js";
import { poolSettings } from "../../src/storage/mysql/open-mysql.js";
import { createMysqlDatabase } from "../support/mariadb-server.js";
import { describeRoundTrips } from "./round-trips-suite.js";

// Every batch the store sends is one query on a connection it takes from the pool, so counting
// those counts round trips (a connection's session setup rides on its first batch).

const url = await createMysqlDatabase(inject("mariadbUrl"));
const schema = await mysql.createConnection({ uri: url });
await migrate(schema);
await schema.end();
const pool = mysql.createPool(poolSettings(url));
let queries = 0;
const counting = new Proxy(pool, {
  get(target, property, receiver) {
    if (property === "getConnection") {
      return async () =>
        new Proxy(await target.getConnection(), {
          get(connection, name, connectionReceiver) {
            if (name === "query") {
              return (...args: Parameters<typeof connection.query>) => {
                queries++;
                return connection.query(...args);
              };
            }
            return Reflect.get(connection, name, connectionReceiver);
          },
        });
    }
    return Reflect.get(target, property, receiver);
  },
});
const store = createMysqlStore(counting);
afterAll(() => store.close());

describeRoundTrips("MySQL/MariaDB", store, {
  count: () => queries,
  reset: () => {
    queries = 0;
  },
});
