import type { Clock } from "../domain/ports.js";

/** How often the offset to the database clock is measured again. */
const RESYNC_MS = 30_000;

export interface DatabaseClock extends Clock {
  /** Measures the offset to the database clock now; rejects if the database cannot be reached. */
  sync(): Promise<void>;
  stop(): void;
}

/**
 * The domain's clock, following the database's: every instance sharing the database reads the
 * same time (to within a round trip), whatever its own clock says. `readDatabaseMs` asks the
 * database for its time in epoch milliseconds (each engine in its own SQL). The offset is measured
 * by `sync` and then every 30 seconds, so `now()` stays synchronous and costs no query; if a
 * resync fails, the last offset is kept.
 */
export function createDatabaseClock(
  readDatabaseMs: () => Promise<number>,
  local: () => number = Date.now,
): DatabaseClock {
  let offset = 0;
  const sync = async () => {
    const before = local();
    const databaseMs = await readDatabaseMs();
    const after = local();
    // The database read its clock somewhere in the round trip; the middle is the best guess.
    offset = Math.round(databaseMs - (before + after) / 2);
  };
  const timer = setInterval(() => sync().catch(() => {}), RESYNC_MS);
  timer.unref();
  return {
    now: () => local() + offset,
    sync,
    stop: () => clearInterval(timer),
  };
}
