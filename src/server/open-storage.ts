import type { Config } from "../config/load-config.js";
import type { OtpStore } from "../domain/otp-store.js";
import type { Clock } from "../domain/ports.js";
import { systemClock } from "../platform/system-clock.js";
import { createMemoryStore } from "../storage/memory-store.js";
import { openMysql } from "../storage/mysql/open-mysql.js";
import { openPostgres } from "../storage/postgres/open-postgres.js";
import type { PrimaryWatch } from "../storage/postgres/primary-pool.js";

/** A store and the clock that goes with it: instances sharing a database share its clock. */
export interface Storage {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Which host is the primary, when DATABASE_URL lists several PostgreSQL hosts. */
  readonly primary?: PrimaryWatch;
}

/**
 * Opens the configured storage: memory with the machine's clock, or PostgreSQL or MySQL/MariaDB
 * (migrated, and with the database's clock). Rejects when the database stays unreachable through
 * start-up or refuses the connection.
 */
export async function openStorage(config: Config, log: (line: string) => void): Promise<Storage> {
  if (config.storage === "postgres" && config.databaseUrl !== null) {
    return openPostgres(config.databaseUrl, config.databasePooler, log);
  }
  if (config.storage === "mysql" && config.databaseUrl !== null) {
    return openMysql(config.databaseUrl, log);
  }
  return { store: createMemoryStore(), clock: systemClock };
}
