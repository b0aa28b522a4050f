import type { QueryConfig, QueryResult, QueryResultRow } from "pg";
import { unavailableAsRefusal } from "../storage-unavailable.js";
import { isUnavailable } from "./storage-errors.js";

/**
 * What the store needs of a pool: a pg.Pool, or one that follows the primary among several hosts
 * (primary-pool.ts).
 */
export interface StatementPool {
  query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
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
