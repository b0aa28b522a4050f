import pg from "pg";
import { createDatabaseClock } from "../database-clock.js";
import { type DatabaseStorage, openDatabaseStorage } from "../open-database-storage.js";
import { migrate } from "./migrations.js";
import { createPostgresStore } from "./postgres-store.js";
import type { Pooler } from "./query.js";
import { isUnavailable, refusalCause } from "./storage-errors.js";

// Our statements take milliseconds: a statement still unanswered after this means the database
// stopped answering, and an RPC should get UNAVAILABLE before most clients' deadlines.
const STATEMENT_TIMEOUT_MS = 2_000;

/**
 * Pool settings: fail fast when the database is unreachable instead of queueing behind it.
 * Exported for the benchmark's single-statement baseline, which must use the same pool.
 *
 * Nothing rides on startup parameters, which poolers refuse (PgBouncer: "unsupported startup
 * parameter"). The client bounds every statement itself (`query_timeout`), behind any pooler.
 * Directly connected, each new connection also sets the server's statement_timeout for its
 * session, so that a statement the client gave up on does not run on; behind a transaction
 * pooler a session setting would leak to other clients' transactions, so the server-side bound
 * is the operator's (`ALTER ROLE … SET statement_timeout`, see docs/storage.md).
 */
export function poolSettings(pooler: Pooler): pg.PoolConfig {
  return {
    max: 20,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    query_timeout: STATEMENT_TIMEOUT_MS,
    keepAlive: true,
    ...(pooler === "none" && {
      onConnect: async (client: pg.ClientBase) => {
        await client.query(`SET statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      },
    }),
  };
}

/**
 * Connects to `url`, applies pending migrations and syncs the clock, as openDatabaseStorage does
 * (retrying while unreachable, stopping at once on a refusal named in words). Behind a transaction
 * pooler (`pooler: "transaction"`) statements are unnamed. Closing the store ends the pool and
 * the clock.
 */
export async function openPostgres(
  url: string,
  pooler: Pooler,
  log: (line: string) => void = () => {},
): Promise<DatabaseStorage> {
  const pool = new pg.Pool({ connectionString: url, ...poolSettings(pooler) });
  // An idle client whose connection drops emits here; without a listener it would crash the
  // process. The next query simply gets a new connection.
  pool.on("error", () => {});
  return openDatabaseStorage({
    migrate: () => migrate(pool),
    clock: createDatabaseClock(async () => {
      const { rows } = await pool.query<{ ms: number }>(
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms",
      );
      return rows[0]?.ms ?? Date.now();
    }),
    store: createPostgresStore(pool, { pooler }),
    end: () => pool.end(),
    errors: { isUnavailable, refusalCause },
    log,
  });
}
