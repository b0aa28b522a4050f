import { NETWORK_ERROR_CODES } from "../storage-unavailable.js";

// SQLSTATEs that mean "not now" rather than "your query is wrong": connection exceptions (08),
// shutdowns and start-ups (57P0x), statement timeout (57014), too many connections (53300), and a
// server that takes no writes (25006: a standby, or a primary being demoted in a failover).
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[1-4]|57014|53300|25006)$/;

// node-postgres reports its own timeouts and dropped connections only by message.
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|connect ECONNREFUSED/i;

/** True when `error` says the database is unreachable or unable to serve, not that a query is wrong. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) {
    return false;
  }
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === "string" &&
    (NETWORK_ERROR_CODES.has(code) || UNAVAILABLE_SQLSTATES.test(code))
  ) {
    return true;
  }
  return UNAVAILABLE_MESSAGES.test(error.message);
}

// Refusals that waiting does not cure. PostgreSQL says why by SQLSTATE; PgBouncer answers every
// refusal with 08P01 (which otherwise means "not now") and says why only in its message.
const REFUSALS: readonly {
  readonly sqlstate: RegExp;
  readonly message: RegExp;
  readonly cause: string;
}[] = [
  {
    sqlstate: /^28/,
    message:
      /password authentication failed|SASL authentication failed|no such user|login rejected|pg_hba\.conf/i,
    cause:
      "the database refused the login (authentication failed): check the user and password in DATABASE_URL",
  },
  {
    sqlstate: /^3D000$/,
    message: /database "[^"]*" does not exist|no such database/i,
    cause: "the database named in DATABASE_URL does not exist",
  },
  {
    sqlstate: /^42704$/,
    message: /unsupported startup parameter|unrecognized configuration parameter/i,
    cause: "the database (or a pooler in front of it) refused a connection parameter",
  },
];

/**
 * Why the database refused a connection for good (authentication, a missing database, a refused
 * parameter), for a start-up error that names the real cause; undefined for anything else.
 */
export function refusalCause(error: unknown): string | undefined {
  if (!(error instanceof Error)) {
    return undefined;
  }
  const code = (error as { code?: unknown }).code;
  const sqlstate = typeof code === "string" ? code : "";
  return REFUSALS.find(
    (refusal) =>
      refusal.sqlstate.test(sqlstate) ||
      (sqlstate === "08P01" && refusal.message.test(error.message)),
  )?.cause;
}
