import { writeKeySetFile } from "../support/access-token-keys.js";
import { type LogEntry, type ServiceProcess, spawnService } from "../support/service-process.js";

// For database-refusals.test.ts and its .system file (the same refusals through PgBouncer).

const HMAC_KEY = "an-hmac-key-for-the-refusal-tests-0123456789";
const KEYS_FILE = writeKeySetFile();

/** Spawns the service on the PostgreSQL database at `url`, reached with `pooler` in between. */
export function spawnOnDatabase(url: string, pooler = "none"): ServiceProcess {
  return spawnService({
    STORAGE: "postgres",
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
