import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { type PgBouncer, startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase, freePort } from "../support/postgres-server.js";
import { killServices, type LogEntry, spawnService } from "../support/service-process.js";

// A database that refuses the connection for good must stop start-up at once with the reason,
// not be retried for 30 seconds as if it were unreachable; one that is unreachable still is.

const HMAC_KEY = "an-hmac-key-for-the-refusal-tests-0123456789";
const KEYS_FILE = writeKeySetFile();

let bouncer: PgBouncer;
let databaseUrl: string;

beforeAll(async () => {
  bouncer = await startPgBouncer(inject("postgresUrl"));
  databaseUrl = await createDatabase(inject("postgresUrl"));
});

afterAll(async () => {
  await bouncer?.destroy();
});

afterEach(() => {
  killServices();
});

/** Starts the service on `url` and waits for it to give up; returns its "cannot start" message. */
async function refusal(url: string, pooler = "none") {
  const started = Date.now();
  const service = spawnService({
    STORAGE: "postgres",
    DATABASE_URL: url,
    DATABASE_POOLER: pooler,
    OTP_HMAC_KEY: HMAC_KEY,
    ACCESS_TOKEN_KEYS: KEYS_FILE,
  });
  const { code } = await service.exited;
  const fatal = service.logs().find((entry) => entry.msg === "cannot start");
  return {
    code,
    seconds: (Date.now() - started) / 1000,
    message: String((fatal?.err as LogEntry | undefined)?.message),
    retried: service.stdout().includes("not reachable yet"),
  };
}

const withPath = (url: string, path: string) => {
  const copy = new URL(url);
  copy.pathname = path;
  return copy.toString();
};

describe("start-up names why the database refused the connection", () => {
  it("a wrong password, through PgBouncer: authentication failed, at once", async () => {
    const url = new URL(bouncer.urlFor(databaseUrl));
    url.password = "not-the-password";
    const outcome = await refusal(url.toString(), "transaction");
    expect(outcome).toMatchObject({ code: 1, retried: false });
    expect(outcome.message).toMatch(/^the database refused the login \(authentication failed\)/);
    expect(outcome.message).toContain("DATABASE_URL");
    expect(outcome.message).not.toContain("not-the-password");
    expect(outcome.seconds).toBeLessThan(10);
  });

  it("a database that does not exist, directly and through PgBouncer", async () => {
    for (const [url, pooler] of [
      [withPath(databaseUrl, "/no_such_database"), "none"],
      [withPath(bouncer.urlFor(databaseUrl), "/no_such_database"), "transaction"],
    ] as const) {
      const outcome = await refusal(url, pooler);
      expect(outcome).toMatchObject({ code: 1, retried: false });
      expect(outcome.message).toMatch(
        /^the database named in DATABASE_URL does not exist \(.*"no_such_database" does not exist\)/,
      );
      expect(outcome.seconds).toBeLessThan(10);
    }
  });

  it("a connection parameter PgBouncer does not support, or PostgreSQL does not know", async () => {
    const bounced = new URL(bouncer.urlFor(databaseUrl));
    bounced.searchParams.set("options", "-c statement_timeout=1000");
    const direct = new URL(databaseUrl);
    direct.searchParams.set("options", "-c no_such_setting=1");
    for (const [url, pooler, said] of [
      [bounced, "transaction", /unsupported startup parameter: options/],
      [direct, "none", /unrecognized configuration parameter "no_such_setting"/],
    ] as const) {
      const outcome = await refusal(url.toString(), pooler);
      expect(outcome).toMatchObject({ code: 1, retried: false });
      expect(outcome.message).toMatch(
        /^the database \(or a pooler in front of it\) refused a connection parameter/,
      );
      expect(outcome.message).toMatch(said);
    }
  });

  it("an unreachable database is still waited for", async () => {
    const url = new URL(databaseUrl);
    url.port = String(await freePort());
    const service = spawnService({
      STORAGE: "postgres",
      DATABASE_URL: url.toString(),
      OTP_HMAC_KEY: HMAC_KEY,
      ACCESS_TOKEN_KEYS: KEYS_FILE,
    });
    await service.line(/\{.*"database not reachable yet \(attempt 2\): connect ECONNREFUSED.*/);
    expect(service.child.exitCode).toBeNull();
  });
});
