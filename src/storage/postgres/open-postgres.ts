import pg from "pg";
import { createDatabaseClock, type DatabaseClock } from "../database-clock.js";
import { type DatabaseStorage, openDatabaseStorage } from "../open-database-storage.js";
import { parseHostList } from "./host-list.js";
import { migrate } from "./migrations.js";
import { createPostgresStore } from "./postgres-store.js";
import { createPrimaryPool, NoPrimaryError, type PrimaryWatch } from "./primary-pool.js";
import type { Pooler, StatementPool } from "./query.js";
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

/** PostgreSQL storage; with several hosts, also which of them is the primary now. */
export interface PostgresStorage extends DatabaseStorage {
  /** Set when DATABASE_URL lists several hosts. */
  readonly primary?: PrimaryWatch;
}

/**
 * Connects to `url`, applies pending migrations and syncs the clock, as openDatabaseStorage does
 * (retrying while unreachable, stopping at once on a refusal named in words). Behind a transaction
 * pooler (`pooler: "transaction"`) statements are unnamed. A URL with several hosts (libpq's
 * syntax, see host-list.ts) gets a pool that follows the primary among them (primary-pool.ts);
 * the clock is synced again on each move, the new primary being another machine. Closing the
 * store ends the pool and the clock.
 */
export async function openPostgres(
  url: string,
  pooler: Pooler,
  log: (line: string) => void = () => {},
): Promise<PostgresStorage> {
  const list = parseHostList(url);
  if (list.hosts.length === 1) {
    const pool = new pg.Pool({ connectionString: url, ...poolSettings(pooler) });
    // An idle client whose connection drops emits here; without a listener it would crash the
    // process. The next query simply gets a new connection.
    pool.on("error", () => {});
    return open(pool, databaseClock(pool), (step) => step(pool), pooler, log);
  }
  // A move is reported only after the first primary was found, by then the clock exists.
  const primary = createPrimaryPool(list, poolSettings(pooler), log, () => {
    clock.sync().catch(() => {});
  });
  const clock = databaseClock(primary);
  // No host taking writes because one refused the login (or the database) is a refusal too.
  const refusedByAny = (error: unknown) =>
    refusalCause(error) ??
    (error instanceof NoPrimaryError
      ? error.causes.map(refusalCause).find((cause) => cause !== undefined)
      : undefined);
  return { ...(await open(primary, clock, primary.run, pooler, log, refusedByAny)), primary };
}

function databaseClock(pool: StatementPool): DatabaseClock {
  return createDatabaseClock(async () => {
    const { rows } = await pool.query<{ ms: number }>({
      text: "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms",
    });
    return rows[0]?.ms ?? Date.now();
  });
}

function open(
  pool: StatementPool,
  clock: DatabaseClock,
  run: (step: (pool: pg.Pool) => Promise<readonly number[]>) => Promise<readonly number[]>,
  pooler: Pooler,
  log: (line: string) => void,
  refused: (error: unknown) => string | undefined = refusalCause,
): Promise<DatabaseStorage> {
  return openDatabaseStorage({
    migrate: () => run(migrate),
    clock,
    store: createPostgresStore(pool, { pooler }),
    end: () => pool.end(),
    errors: { isUnavailable, refusalCause: refused },
    log,
  });
}
