import { NETWORK_ERROR_CODES } from "../storage-unavailable.js";

/** The client's own bound on a statement ran out (see query.ts): the database stopped answering. */
export class StatementBoundExceeded extends Error {
  readonly code = "OTP_STATEMENT_BOUND";
  constructor(boundMs: number) {
    super(`the database did not answer within ${boundMs} ms`);
  }
}

// mysql2's own codes for a connection that broke or never answered.
const DRIVER_CODES = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "OTP_STATEMENT_BOUND",
]);

// Server error numbers that mean "not now" rather than "your statement is wrong", in MySQL and
// MariaDB alike unless marked: too many connections (1040), shutting down (1053), interrupted
// (1317), a lock wait past innodb_lock_wait_timeout (1205), a deadlock still lost after retries
// (1213), the server statement bound (3024 MySQL's max_execution_time, 1969 MariaDB's
// max_statement_time), a killed connection (1927, MariaDB), gone away or lost (2006, 2013), and a
// server in read-only mode during a failover (1792, 1836).
const UNAVAILABLE_ERRNOS = new Set([
  1040, 1053, 1317, 1205, 1213, 3024, 1969, 1927, 2006, 2013, 1792, 1836,
]);

// mysql2 says only in words that it cannot use a connection that already broke.
const UNAVAILABLE_MESSAGES = /in closed state|Connection lost|connect ETIMEDOUT/i;

/** True when `error` says the database is unreachable or unable to serve, not that a query is wrong. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) {
    return false;
  }
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  if (typeof code === "string" && (NETWORK_ERROR_CODES.has(code) || DRIVER_CODES.has(code))) {
    return true;
  }
  if (typeof errno === "number" && UNAVAILABLE_ERRNOS.has(errno)) {
    return true;
  }
  return UNAVAILABLE_MESSAGES.test(error.message);
}

/** True when InnoDB rolled the batch back as a deadlock's victim: running it again is safe. */
export function isDeadlock(error: unknown): boolean {
  return (error as { errno?: unknown } | null)?.errno === 1213;
}

// Refusals that waiting does not cure, by server error number.
const REFUSALS: readonly { readonly errnos: readonly number[]; readonly cause: string }[] = [
  {
    // Access denied (1045), without a password (1698), an authentication method the client lacks (1251).
    errnos: [1045, 1698, 1251],
    cause:
      "the database refused the login (authentication failed): check the user and password in DATABASE_URL",
  },
  {
    errnos: [1130],
    cause:
      "the database refused the login: the user in DATABASE_URL may not connect from this host",
  },
  {
    errnos: [1049],
    cause: "the database named in DATABASE_URL does not exist",
  },
  {
    errnos: [1044],
    cause:
      "the database refused the login: the user in DATABASE_URL has no access to the database named there",
  },
  {
    // Unknown system variable (1193), a wrong value for one (1231).
    errnos: [1193, 1231],
    cause:
      "the database refused a session setting the service makes (is it MySQL 8.0+ or MariaDB 10.11+?)",
  },
];

/**
 * Why the database refused a connection for good (authentication, a missing database, a refused
 * setting), for a start-up error that names the real cause; undefined for anything else.
 */
export function refusalCause(error: unknown): string | undefined {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === "number"
    ? REFUSALS.find((refusal) => refusal.errnos.includes(errno))?.cause
    : undefined;
}
