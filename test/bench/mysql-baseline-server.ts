// The MySQL/MariaDB ceiling: a mysql2 pool with the service's settings (poolSettings) making one
// single-statement round trip per call through the store's query helper (its bound, its session
// setup on a connection's first use), on the stack of baseline-stack.ts.

import mysql from "mysql2/promise";
import { poolSettings } from "../../src/storage/mysql/open-mysql.js";
import { createQuery } from "../../src/storage/mysql/query.js";
import { serveOneStatement } from "./baseline-stack.js";

const pool = mysql.createPool(poolSettings(process.env.DATABASE_URL ?? ""));
const query = createQuery(pool);
let calls = 0;
// A statement with a placeholder, escaped and sent as the store sends its own.
await serveOneStatement(
  () => query("SELECT :n AS n", { n: calls++ }),
  () => pool.end(),
);
