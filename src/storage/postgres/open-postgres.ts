import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { OtpStore } from "../../domain/otp-store.js";
import { createDatabaseClock, type DatabaseClock } from "./database-clock.js";
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

/** How long start-up keeps trying to reach the database (it may be starting too). */
const STARTUP_PATIENCE_MS = 30_000;

export interface PostgresStorage {
  readonly store: OtpStore;
  /** The clock all instances share: the database's. */
  readonly clock: DatabaseClock;
}

/**
 * Connects to `url`, applies pending migrations and syncs the clock. Retries for up to 30 seconds
 * while the database cannot be reached, then rejects with the last error; rejects at once, with
 * an error naming the cause, when the database refuses the connection for good (authentication,
 * a missing database, a refused parameter) or a statement fails. Behind a transaction pooler
 * (`pooler: "transaction"`) statements are unnamed. Closing the store ends the pool and the clock.
 */
export async function openPostgres(
  url: string,
  pooler: Pooler,
  log: (line: string) => void = () => {},
): Promise<PostgresStorage> {
  const pool = new pg.Pool({ connectionString: url, ...poolSettings(pooler) });
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
      const refused = refusalCause(error);
      if (refused !== undefined || !isUnavailable(error) || Date.now() >= deadline) {
        clock.stop();
        await pool.end().catch(() => {});
        throw refused === undefined
          ? error
          : new Error(`${refused} (${(error as Error).message})`, { cause: error });
      }
      log(`database not reachable yet (attempt ${attempt}): ${(error as Error).message}`);
      await sleep(Math.min(250 * attempt, 2_000));
    }
  }
  const store = createPostgresStore(pool, { pooler });
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
