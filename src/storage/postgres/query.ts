import type { PoolClient, QueryConfig, QueryResult, QueryResultRow } from "pg";
import { unavailableAsRefusal } from "../storage-unavailable.js";
import { isUnavailable } from "./storage-errors.js";

/**
 * What the store needs of a pool: a pg.Pool, or one that follows the primary among several hosts
 * (primary-pool.ts).
 */
export interface StatementPool {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
  /** A connection of its own, for a transaction; released by the caller. */
  connect(): Promise<PoolClient>;
  end(): Promise<void>;
}

/**
 * How the service reaches PostgreSQL: directly (or through a session pooler, which keeps a server
 * connection per client), or through a transaction pooler (DATABASE_POOLER).
 */
export type Pooler = "none" | "transaction";

/**
 * Runs one statement under a name, so that each connection parses and plans it once and then only
 * binds it. A name must always go with the same text (node-postgres refuses otherwise): names are
 * per call site. Rejects with a storage_unavailable OtpError when the database cannot be reached.
 */
export type Query = <R extends QueryResultRow>(
  name: string,
  text: string,
  values?: unknown[],
) => Promise<QueryResult<R>>;

/**
 * The Query of a pool. Behind a transaction pooler (`pooler: "transaction"`) the name is dropped:
 * a named statement lives on one server connection, which the pooler hands to other clients
 * between transactions, so each statement is parsed anew (unnamed, still parameterised).
 */
export function createQuery(pool: StatementPool, pooler: Pooler = "none"): Query {
  if (pooler === "transaction") {
    return (_name, text, values = []) =>
      unavailableAsRefusal(() => pool.query({ text, values }), isUnavailable);
  }
  return (name, text, values = []) =>
    unavailableAsRefusal(() => pool.query({ name, text, values }), isUnavailable);
}

/** A timestamp parameter from epoch milliseconds. */
export const date = (ms: number) => new Date(ms);

/** Epoch milliseconds from a timestamp column, keeping NULL. */
export const millis = (value: Date | null): number | null =>
  value === null ? null : value.getTime();

/**
 * Runs `work` in one transaction on one connection of the pool, its statements through the Query
 * it is handed (named or unnamed as `pooler` says), and commits; rolls back and rejects with what
 * `work` threw (storage_unavailable when the database cannot be reached). For steps that must
 * wait for a lock before they read: each statement of a READ COMMITTED transaction reads what is
 * committed when it starts, after the locks the earlier ones waited for.
 */
export type Transact = <T>(work: (query: Query) => Promise<T>) => Promise<T>;

/** The Transact of a pool. */
export function createTransact(pool: StatementPool, pooler: Pooler = "none"): Transact {
  return (work) =>
    unavailableAsRefusal(async () => {
      const client = await pool.connect();
      let broken: Error | undefined;
      const query: Query = (name, text, values = []) =>
        unavailableAsRefusal(
          () => client.query(pooler === "transaction" ? { text, values } : { name, text, values }),
          isUnavailable,
        );
      try {
        await client.query("BEGIN");
        const result = await work(query);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollback: unknown) => {
          // A connection that cannot even roll back is not given to the next caller.
          broken = rollback instanceof Error ? rollback : new Error(String(rollback));
        });
        throw error;
      } finally {
        client.release(broken);
      }
    }, isUnavailable);
}
