import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { OtpStore } from "../../domain/otp-store.js";
import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
import { migrate } from "./migrations.js";
import { createPostgresStore } from "./postgres-store.js";

/**
 * Pool settings: fail fast when the database is unreachable instead of queueing behind it.
 * Exported for the benchmark's single-statement baseline, which must use the same pool.
 */
export const POOL = {
  max: 20,
  connectionTimeoutMillis: 2_000,
  idleTimeoutMillis: 30_000,
  // Client- and server-side bounds on one statement, so that a database that stopped answering
  // gives UNAVAILABLE within 2 seconds, before most clients' deadlines. Our statements take
  // milliseconds.
  query_timeout: 2_000,
  statement_timeout: 2_000,
  keepAlive: true,
} as const;

/** How long start-up keeps trying to reach the database (it may be starting too). */
const STARTUP_PATIENCE_MS = 30_000;

export interface PostgresStorage {
  readonly store: OtpStore;
  /** The clock all instances share: the database's. */
  readonly clock: DatabaseClock;
}

/**
 * Connects to `url`, applies pending migrations and syncs the clock. Retries for up to 30 seconds
 * while the database cannot be reached, then rejects with the last error. Closing the store ends
 * the pool and the clock.
 */
export async function openPostgres(
  url: string,
  log: (line: string) => void = () => {},
): Promise<PostgresStorage> {
  const pool = new pg.Pool({ connectionString: url, ...POOL });
  // An idle client whose connection drops emits here; without a listener it would crash the
  // process. The next query simply gets a new connection.
  pool.on("error", () => {});
  const clock = createDatabaseClock(pool);
  const deadline = Date.now() + STARTUP_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const applied = await migrate(pool);
      if (applied.length > 0) {
        log(`applied database migrations ${applied.join(", ")}`);
      }
      await clock.sync();
      break;
    } catch (error) {
      if (Date.now() >= deadline) {
        clock.stop();
        await pool.end().catch(() => {});
        throw error;
      }
      log(`database not reachable yet (attempt ${attempt}): ${(error as Error).message}`);
      await sleep(Math.min(250 * attempt, 2_000));
    }
  }
  const store = createPostgresStore(pool);
  return {
    clock,
    store: {
      ...store,
      async close() {
        clock.stop();
        await store.close();
      },
    },
  };
}
