import { describe, expect, inject, it } from "vitest";
import { createDatabase } from "../support/postgres-server.js";
import { sessionStatementTimeout } from "./session-statement-timeout.js";

// Behind a transaction pooler: pool-settings-pgbouncer.system.test.ts.

const databaseUrl = await createDatabase(inject("postgresUrl"));

describe("the pool's statement bounds", () => {
  it("directly, the server stops a statement after 2 seconds too", async () => {
    expect(await sessionStatementTimeout(databaseUrl, "none")).toBe("2s");
  });
});
