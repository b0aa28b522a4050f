import { afterEach, describe, expect, inject, it } from "vitest";
import { createMysqlDatabase } from "../support/mariadb-server.js";
import { killServices } from "../support/service-process.js";
import {
  expectUnreachableWaitedFor,
  expectWrongPasswordRefused,
  startupRefusal,
  withDatabase,
} from "./startup-refusal.js";

// database-refusals.test.ts's cases with STORAGE=mysql on MariaDB: a refusal for good stops
// start-up at once with the reason; an unreachable database is still waited for.

const databaseUrl = await createMysqlDatabase(inject("mariadbUrl"));

afterEach(() => {
  killServices();
});

describe("start-up names why MariaDB refused the connection", () => {
  it("a wrong password: authentication failed, at once, without repeating the password", async () => {
    await expectWrongPasswordRefused(databaseUrl);
  });

  it("a database that does not exist", async () => {
    const outcome = await startupRefusal(withDatabase(databaseUrl, "no_such_database"));
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(
      /^the database named in DATABASE_URL does not exist \(Unknown database 'no_such_database'\)/,
    );
    expect(outcome.seconds).toBeLessThan(10);
  });

  it("an unreachable database is still waited for", async () => {
    await expectUnreachableWaitedFor(databaseUrl);
  });
});
