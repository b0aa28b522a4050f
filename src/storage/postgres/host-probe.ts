import pg from "pg";
import type { DatabaseHost, TargetSessionAttrs } from "./host-list.js";

// One round trip tells both what libpq's read-write (transaction_read_only) and primary
// (pg_is_in_recovery) ask; a standby is always read-only. Nothing here needs session state, so it
// also passes through a transaction pooler.
const PROBE =
  "SELECT pg_is_in_recovery() AS in_recovery, current_setting('transaction_read_only') = 'on' AS read_only";

interface ServerState {
  readonly in_recovery: boolean;
  readonly read_only: boolean;
}

/** Why a server answering `state` does not suit `target`, or undefined when it does. */
function unsuitable(state: ServerState, target: TargetSessionAttrs): string | undefined {
  if (state.in_recovery) {
    return target === "any" ? undefined : "a standby (in recovery)";
  }
  return target === "read-write" && state.read_only ? "read-only" : undefined;
}

/**
 * Asks `host`, on a connection of its own (bounded by `settings`' connection and statement
 * timeouts), whether it suits `target`. Answers undefined when it does, a reason in words when it
 * answered but does not, and the error when it could not be asked (down, refused, timed out).
 */
export async function probeHost(
  host: DatabaseHost,
  target: TargetSessionAttrs,
  settings: pg.PoolConfig,
): Promise<string | Error | undefined> {
  const client = new pg.Client({
    connectionString: host.url,
    connectionTimeoutMillis: settings.connectionTimeoutMillis,
    query_timeout: settings.query_timeout,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const { rows } = await client.query<ServerState>(PROBE);
    return rows[0] === undefined ? "no answer" : unsuitable(rows[0], target);
  } catch (error) {
    return error as Error;
  } finally {
    client.end().catch(() => {});
  }
}

/**
 * Checks that the server of a new connection still suits `target` (one more round trip per
 * connection, none per statement); rejects with SQLSTATE 25006 (read_only_sql_transaction), which
 * reads as unavailable, when it has become a standby or read-only.
 */
export async function checkConnection(
  client: pg.ClientBase,
  target: TargetSessionAttrs,
): Promise<void> {
  const { rows } = await client.query<ServerState>(PROBE);
  const reason = rows[0] === undefined ? "no answer" : unsuitable(rows[0], target);
  if (reason !== undefined) {
    throw Object.assign(new Error(`the database server no longer takes writes: ${reason}`), {
      code: "25006",
    });
  }
}
