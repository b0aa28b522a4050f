import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase } from "../support/postgres-server.js";
import { killServices } from "../support/service-process.js";
import { expectWrongPasswordRefused, startupRefusal, withDatabase } from "./startup-refusal.js";

// database-refusals.test.ts's refusals for good, through PgBouncer in transaction pooling mode,
// which answers them in its own words: start-up must still stop at once, with the reason.

const databaseUrl = await createDatabase(inject("postgresUrl"));
const bouncer = await startPgBouncer(inject("postgresUrl"));
afterAll(() => bouncer.destroy());

afterEach(() => {
  killServices();
});

describe("start-up names why the database refused the connection, through PgBouncer", () => {
  it("a wrong password: authentication failed, at once", async () => {
    await expectWrongPasswordRefused(bouncer.urlFor(databaseUrl), "transaction");
  });

  it("a database that does not exist", async () => {
    const url = withDatabase(bouncer.urlFor(databaseUrl), "no_such_database");
    const outcome = await startupRefusal(url, "transaction");
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(
      /^the database named in DATABASE_URL does not exist \(.*"no_such_database" does not exist\)/,
    );
    expect(outcome.seconds).toBeLessThan(10);
  });

  it("a connection parameter PgBouncer does not support", async () => {
    const url = new URL(bouncer.urlFor(databaseUrl));
    url.searchParams.set("options", "-c statement_timeout=1000");
    const outcome = await startupRefusal(url.toString(), "transaction");
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(
      /^the database \(or a pooler in front of it\) refused a connection parameter/,
    );
    expect(outcome.message).toMatch(/unsupported startup parameter: options/);
  });
});
