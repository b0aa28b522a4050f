import { setTimeout as sleep } from "node:timers/promises";
import type { OtpStore } from "../domain/otp-store.js";
import type { DatabaseClock } from "./database-clock.js";

/** How long start-up keeps trying to reach the database (it may be starting too). */
const STARTUP_PATIENCE_MS = 30_000;

/** What an engine's errors mean at start-up. */
export interface StartupErrors {
  /** The database cannot be reached or cannot serve now: worth trying again. */
  isUnavailable(error: unknown): boolean;
  /** Why the database refused the connection for good, in words; undefined for anything else. */
  refusalCause(error: unknown): string | undefined;
}

/** A store on a shared database, and the clock all instances share: the database's. */
export interface DatabaseStorage {
  readonly store: OtpStore;
  readonly clock: DatabaseClock;
}

/**
 * Start-up on a database, whatever the engine: applies pending migrations (`migrate` answers the
 * versions it applied) and syncs `clock`, retrying both for up to 30 seconds while the database
 * cannot be reached, then rejects with the last error. Rejects at once when the database refuses
 * the connection for good, with an error naming the cause (the driver's message kept in
 * parentheses), or when a step fails otherwise. On failure the clock stops and `end` closes the
 * pool; on success, closing the store does both.
 */
export async function openDatabaseStorage(steps: {
  readonly migrate: () => Promise<readonly number[]>;
  readonly clock: DatabaseClock;
  readonly store: OtpStore;
  readonly end: () => Promise<void>;
  readonly errors: StartupErrors;
  readonly log: (line: string) => void;
}): Promise<DatabaseStorage> {
  const { clock, store, errors, log } = steps;
  const deadline = Date.now() + STARTUP_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const applied = await steps.migrate();
      if (applied.length > 0) {
        log(`applied database migrations ${applied.join(", ")}`);
      }
      await clock.sync();
      break;
    } catch (error) {
      const refused = errors.refusalCause(error);
      if (refused !== undefined || !errors.isUnavailable(error) || Date.now() >= deadline) {
        clock.stop();
        await steps.end().catch(() => {});
        throw refused === undefined
          ? error
          : new Error(`${refused} (${(error as Error).message})`, { cause: error });
      }
      log(`database not reachable yet (attempt ${attempt}): ${(error as Error).message}`);
      await sleep(Math.min(250 * attempt, 2_000));
    }
  }
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
