import type {
  Pool,
  PoolConnection,
  QueryValues,
  ResultSetHeader,
  RowDataPacket,
} from "mysql2/promise";
import { unavailableAsRefusal } from "../storage-unavailable.js";
import { isDeadlock, isUnavailable, StatementBoundExceeded } from "./storage-errors.js";

/** Values for a statement's `:name` placeholders (mysql2 escapes them on the client). */
export type Params = { readonly [name: string]: QueryValues };

/** What a statement or batch answered. */
export interface Results {
  /** The rows of the last statement that returned rows (a SELECT), or none. */
  rows<R>(): R[];
  /** Rows changed by every statement, added up. */
  readonly affectedRows: number;
}

/**
 * Sends one statement, or a batch of statements separated by `;`, in one round trip, and answers
 * when the last has run. A batch that starts a transaction ends it itself. Rejects with a
 * storage_unavailable OtpError when the database cannot be reached or does not answer within the
 * bound; a deadlock's victim is run again (the server rolled it back whole).
 */
export type Query = (sql: string, params?: Params) => Promise<Results>;

// Our statements take milliseconds: one still unanswered after this means the database stopped
// answering, and an RPC should get UNAVAILABLE before most clients' deadlines.
export const STATEMENT_BOUND_MS = 2_000;

/**
 * The database's time in epoch milliseconds, as SQL: UTC_TIMESTAMP does not depend on the
 * session's time zone, and the difference is plain arithmetic in both engines.
 */
export const DATABASE_NOW_MS =
  "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** How often a batch InnoDB chose as a deadlock's victim is run again before giving up. */
const DEADLOCK_TRIES = 5;

/**
 * What every connection's session is set to before its first batch, sent in front of that batch
 * (no round trip of its own):
 * - READ COMMITTED: each statement of a batch reads what is committed when it runs (after the row
 *   locks it waits for), and InnoDB takes no gap locks, the usual source of deadlocks;
 * - a strict sql_mode of our own, whatever the server's default (nothing truncated silently, no
 *   ANSI_QUOTES or PIPES_AS_CONCAT surprises);
 * - no lock wait longer than the client's bound (innodb_lock_wait_timeout is in seconds);
 * - the server's own statement bound, named differently by each engine: MySQL's
 *   max_execution_time (ms, SELECTs only) in a comment only MySQL 8 runs (`/*!80000`), MariaDB's
 *   max_statement_time (s, every statement) in one only MariaDB runs (`/*M!`).
 */
export const SESSION_SETUP = `SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
    SESSION innodb_lock_wait_timeout = ${Math.ceil(STATEMENT_BOUND_MS / 1000)}
    /*!80000 , SESSION max_execution_time = ${STATEMENT_BOUND_MS} */
    /*M!100000 , SESSION max_statement_time = ${STATEMENT_BOUND_MS / 1000} */;
`;

/**
 * The Query of a pool. The bound is the client's own, over waiting for a connection (the pool
 * queues without limit) and the batch, so it holds against any server. A batch that failed or
 * ran out of time takes its connection with it: a transaction it left open is rolled back by the
 * server when the connection closes, and nothing half done returns to the pool.
 */
export function createQuery(pool: Pool, boundMs: number = STATEMENT_BOUND_MS): Query {
  // The connections whose session is set up, by mysql2's connection under each pooled handle.
  const setUp = new WeakSet<object>();
  const once = async (sql: string, params: Params): Promise<Results> => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StatementBoundExceeded(boundMs)), boundMs);
    });
    const acquiring = pool.getConnection();
    let connection: PoolConnection;
    try {
      connection = await Promise.race([acquiring, bound]);
    } catch (error) {
      clearTimeout(timer);
      // A connection that arrives after we gave up goes straight back.
      acquiring.then((late) => late.release()).catch(() => {});
      throw error;
    }
    const fresh = !setUp.has(connection.connection);
    const running = connection.query({ sql: fresh ? SESSION_SETUP + sql : sql, values: params });
    try {
      const [answer] = await Promise.race([running, bound]);
      setUp.add(connection.connection);
      connection.release();
      return resultsOf(answer);
    } catch (error) {
      running.catch(() => {});
      connection.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };
  return (sql, params = {}) =>
    unavailableAsRefusal(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(sql, params);
        } catch (error) {
          if (!isDeadlock(error) || attempt >= DEADLOCK_TRIES) {
            throw error;
          }
        }
      }
    }, isUnavailable);
}

type Answer = RowDataPacket[] | ResultSetHeader | (RowDataPacket[] | ResultSetHeader)[];

/** One statement answers a result set or a header; a batch, an array of those. */
function resultsOf(answer: unknown): Results {
  const isBatch = Array.isArray(answer) && answer.some((part) => !isRow(part));
  const parts = (isBatch ? answer : [answer]) as Exclude<Answer, unknown[][]>[];
  const sets = parts.filter((part): part is RowDataPacket[] => Array.isArray(part));
  const affectedRows = parts.reduce(
    (sum, part) => sum + (Array.isArray(part) ? 0 : (part as ResultSetHeader).affectedRows),
    0,
  );
  return { rows: <R>() => (sets.at(-1) ?? []) as R[], affectedRows };
}

/** A row of a result set, as opposed to a statement's header or a whole result set. */
const isRow = (part: unknown) =>
  typeof part === "object" && part !== null && !Array.isArray(part) && !("affectedRows" in part);
