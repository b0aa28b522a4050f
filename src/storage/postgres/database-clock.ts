import type { Pool } from "pg";
import type { Clock } from "../../domain/ports.js";

/** How often the offset to the database clock is measured again. */
const RESYNC_MS = 30_000;

export interface DatabaseClock extends Clock {
  /** Measures the offset to the database clock now; rejects if the database cannot be reached. */
  sync(): Promise<void>;
  stop(): void;
}

/**
 * The domain's clock, following the database's: every instance sharing the database reads the
 * same time (to within a round trip), whatever its own clock says. The offset is measured by
 * `sync` and then every 30 seconds, so `now()` stays synchronous and costs no query; if a resync
 * fails, the last offset is kept.
 */
export function createDatabaseClock(pool: Pool, local: () => number = Date.now): DatabaseClock {
  let offset = 0;
  const sync = async () => {
    const before = local();
    const { rows } = await pool.query<{ ms: number }>(
      "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms",
    );
    const after = local();
    // The database read its clock somewhere in the round trip; the middle is the best guess.
    offset = Math.round((rows[0]?.ms ?? after) - (before + after) / 2);
  };
  const timer = setInterval(() => sync().catch(() => {}), RESYNC_MS);
  timer.unref();
  return {
    now: () => local() + offset,
    sync,
    stop: () => clearInterval(timer),
  };
}
