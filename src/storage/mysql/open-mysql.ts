import mysql, { type PoolOptions } from "mysql2/promise";
import { createDatabaseClock } from "../database-clock.js";
import { type DatabaseStorage, openDatabaseStorage } from "../open-database-storage.js";
import { migrate } from "./migrations.js";
import { createMysqlStore } from "./mysql-store.js";
import { DATABASE_NOW_MS } from "./query.js";
import { isUnavailable, refusalCause } from "./storage-errors.js";

/**
 * How the service connects, as a connection's settings; `poolSettings` adds the pool's. A URL's
 * own query parameters (e.g. `?ssl={"rejectUnauthorized":true}`) are kept where these set nothing.
 */
function connectionSettings(url: string) {
  return {
    uri: url,
    // Fail fast when the database is unreachable instead of waiting on the operating system.
    connectTimeout: 2_000,
    // BIGINT epoch milliseconds come back as numbers (they are far below 2^53).
    supportBigNumbers: true,
    decimalNumbers: true,
  } satisfies PoolOptions;
}

/**
 * Pool settings: up to 20 connections, idle ones closed after 30 s, TCP keepalive, and several
 * statements per query with `:name` placeholders (mysql2 escapes the values on the client, for
 * the server's sql_mode). The pool queues callers without limit or timeout of its own; the store
 * bounds every step, waiting for a connection included, to 2 s (query.ts). Exported for the
 * benchmark's single-statement baseline, which must use the same pool.
 */
export function poolSettings(url: string): PoolOptions {
  return {
    ...connectionSettings(url),
    connectionLimit: 20,
    maxIdle: 20,
    idleTimeout: 30_000,
    enableKeepAlive: true,
    multipleStatements: true,
    namedPlaceholders: true,
  };
}

/**
 * Connects to `url` (mysql://user:password@host:port/db), applies pending migrations over a
 * connection of their own and syncs the clock, as openDatabaseStorage does (retrying while
 * unreachable, stopping at once on a refusal named in words: authentication, an unknown
 * database). Closing the store ends the pool and the clock.
 */
export async function openMysql(
  url: string,
  log: (line: string) => void = () => {},
): Promise<DatabaseStorage> {
  const pool = mysql.createPool(poolSettings(url));
  return openDatabaseStorage({
    async migrate() {
      const connection = await mysql.createConnection(connectionSettings(url));
      try {
        return await migrate(connection);
      } finally {
        await connection.end().catch(() => connection.destroy());
      }
    },
    clock: createDatabaseClock(async () => {
      const [rows] = await pool.query(`SELECT ${DATABASE_NOW_MS} AS ms`);
      return (rows as { ms: number }[])[0]?.ms ?? Date.now();
    }),
    store: createMysqlStore(pool),
    end: () => pool.end(),
    errors: { isUnavailable, refusalCause },
    log,
  });
}
