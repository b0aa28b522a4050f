import { afterEach, describe, expect, inject, it } from "vitest";
import { createDatabase } from "../support/postgres-server.js";
import { killServices } from "../support/service-process.js";
import { expectUnreachableWaitedFor, startupRefusal, withDatabase } from "./startup-refusal.js";

// A database that refuses the connection for good must stop start-up at once with the reason,
// not be retried for 30 seconds as if it were unreachable; one that is unreachable still is.
// The same refusals through PgBouncer: database-refusals-pgbouncer.system.test.ts.

const databaseUrl = await createDatabase(inject("postgresUrl"));

afterEach(() => {
  killServices();
});

describe("start-up names why the database refused the connection", () => {
  it("a database that does not exist", async () => {
    const outcome = await startupRefusal(withDatabase(databaseUrl, "no_such_database"));
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(
      /^the database named in DATABASE_URL does not exist \(.*"no_such_database" does not exist\)/,
    );
    expect(outcome.seconds).toBeLessThan(10);
  });

  it("a connection parameter PostgreSQL does not know", async () => {
    const url = new URL(databaseUrl);
    url.searchParams.set("options", "-c no_such_setting=1");
    const outcome = await startupRefusal(url.toString());
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(
      /^the database \(or a pooler in front of it\) refused a connection parameter/,
    );
    expect(outcome.message).toMatch(/unrecognized configuration parameter "no_such_setting"/);
  });

  it("an unreachable database is still waited for", async () => {
    await expectUnreachableWaitedFor(databaseUrl);
  });
});
