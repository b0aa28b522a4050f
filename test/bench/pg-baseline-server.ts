// The PostgreSQL ceiling: a pg Pool with the service's settings (poolSettings) making one
// single-statement round trip per call, on the stack of baseline-stack.ts. The statement is sent
// through the store's query helper, so it is named or unnamed as the store's are
// (DATABASE_POOLER).

import pg from "pg";
import { poolSettings } from "../../src/storage/postgres/open-postgres.js";
import { createQuery, type Pooler } from "../../src/storage/postgres/query.js";
import { serveOneStatement } from "./baseline-stack.js";

const pooler = (process.env.DATABASE_POOLER ?? "none") as Pooler;
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, ...poolSettings(pooler) });
pool.on("error", () => {});
const query = createQuery(pool, pooler);
let calls = 0;
// A parameterised statement sent as the store sends its own (named unless behind a transaction
// pooler).
await serveOneStatement(
  () => query("baseline", "SELECT $1::bigint AS n", [calls++]),
  () => pool.end(),
);
