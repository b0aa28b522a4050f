import pg from "pg";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase } from "../support/postgres-server.js";
import { describeRoundTrips } from "./round-trips-suite.js";

// Every statement the store sends is one pool.query, so counting those counts round trips.

const databaseUrl = await createDatabase(inject("postgresUrl"));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(pool);
let queries = 0;
const counting = new Proxy(pool, {
  get(target, property, receiver) {
    if (property === "query") {
      return (...args: Parameters<pg.Pool["query"]>) => {
        queries++;
        return (target.query as (...a: unknown[]) => unknown)(...args);
      };
    }
    return Reflect.get(target, property, receiver);
  },
});
const store = createPostgresStore(counting);
afterAll(() => store.close());

describeRoundTrips("PostgreSQL", store, {
  count: () => queries,
  reset: () => {
    queries = 0;
  },
});
