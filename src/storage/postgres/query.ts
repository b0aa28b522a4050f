import type { Pool, QueryResult, QueryResultRow } from "pg";
import { unavailableAsRefusal } from "./storage-errors.js";

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

/** The Query of a pool. */
export function createQuery(pool: Pool): Query {
  return (name, text, values = []) =>
    unavailableAsRefusal(() => pool.query({ name, text, values }));
}

/** A timestamp parameter from epoch milliseconds. */
export const date = (ms: number) => new Date(ms);

/** Epoch milliseconds from a timestamp column, keeping NULL. */
export const millis = (value: Date | null): number | null =>
  value === null ? null : value.getTime();
