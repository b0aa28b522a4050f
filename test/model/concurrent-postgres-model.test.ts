import * as fc from "fast-check";
import pg from "pg";
import { afterAll, describe, inject, it } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase, truncateAll } from "../support/postgres-server.js";
import { checkRace, prefixes, racingPairs } from "./concurrent-pairs.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(pool);
const store = createPostgresStore(pool);

afterAll(() => store.close());

describe("two racing calls over PostgreSQL, against the reference model", () => {
  // Fewer runs than for memory: each step is a round trip, and CI time is bounded.
  it("answer verify/verify, verify/request and request/request races as one order or the other", async () => {
    await fc.assert(
      fc.asyncProperty(prefixes, racingPairs, fc.scheduler(), async (prefix, pair, s) => {
        await truncateAll(pool);
        await checkRace(store, prefix, pair, s);
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
