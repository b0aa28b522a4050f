import { expect } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { freePort } from "../support/postgres-server.js";
import { type LogEntry, type ServiceProcess, spawnService } from "../support/service-process.js";

// For database-refusals.test.ts and its .system files (the same refusals through PgBouncer, and
// MariaDB's).

const HMAC_KEY = "an-hmac-key-for-the-refusal-tests-0123456789";
const KEYS_FILE = writeKeySetFile();

/**
 * Spawns the service on the database at `url`: STORAGE=mysql for a mysql:// URL, else postgres,
 * reached with `pooler` in between.
 */
export function spawnOnDatabase(url: string, pooler = "none"): ServiceProcess {
  return spawnService({
    STORAGE: url.startsWith("mysql:") ? "mysql" : "postgres",
    DATABASE_URL: url,
    DATABASE_POOLER: pooler,
    OTP_HMAC_KEY: HMAC_KEY,
    ACCESS_TOKEN_KEYS: KEYS_FILE,
  });
}

/** Starts the service on `url` and waits for it to give up; returns its "cannot start" message. */
export async function startupRefusal(url: string, pooler = "none") {
  const started = Date.now();
  const service = spawnOnDatabase(url, pooler);
  const { code } = await service.exited;
  const fatal = service.logs().find((entry) => entry.msg === "cannot start");
  return {
    code,
    seconds: (Date.now() - started) / 1000,
    message: String((fatal?.err as LogEntry | undefined)?.message),
    retried: service.stdout().includes("not reachable yet"),
  };
}

/** `url` naming the database `name` instead. */
export function withDatabase(url: string, name: string): string {
  const copy = new URL(url);
  copy.pathname = `/${name}`;
  return copy.toString();
}

/** A wrong password in `url`: start-up stops at once, naming the login, never the password. */
export async function expectWrongPasswordRefused(url: string, pooler = "none"): Promise<void> {
  const wrong = new URL(url);
  wrong.password = "not-the-password";
  const outcome = await startupRefusal(wrong.toString(), pooler);
  expect(outcome).toMatchObject({ code: 1, retried: false });
  expect(outcome.message).toMatch(/^the database refused the login \(authentication failed\)/);
  expect(outcome.message).toContain("DATABASE_URL");
  expect(outcome.message).not.toContain("not-the-password");
  expect(outcome.seconds).toBeLessThan(10);
}

/** `url` on a port nobody listens on: start-up keeps waiting for the database, as for one starting. */
export async function expectUnreachableWaitedFor(url: string): Promise<void> {
  const unreachable = new URL(url);
  unreachable.port = String(await freePort());
  const service = spawnOnDatabase(unreachable.toString());
  await service.line(/\{.*"database not reachable yet \(attempt 2\): connect ECONNREFUSED.*/);
  expect(service.child.exitCode).toBeNull();
}
