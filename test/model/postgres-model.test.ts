import * as fc from "fast-check";
import pg from "pg";
import { afterAll, describe, inject, it } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase, truncateAll } from "../support/postgres-server.js";
import { commands, createModel, createSystem } from "./model-commands.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(pool);
const store = createPostgresStore(pool);

afterAll(() => store.close());

describe("the service over PostgreSQL, against the reference model", () => {
  // Fewer runs than for memory: each step is a few round trips, and CI time is bounded.
  it("answers every random sequence of requests, verifications, status checks and clock moves as SPEC.md says", async () => {
    await fc.assert(
      fc.asyncProperty(commands(60), async (sequence) => {
        await truncateAll(pool);
        await fc.asyncModelRun(
          () => ({ model: createModel(), real: createSystem(store) }),
          sequence,
        );
      }),
      { numRuns: 100 },
    );
  });
});
