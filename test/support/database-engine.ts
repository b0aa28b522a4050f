import type { DatabaseState } from "./audit.js";

/**
 * A throw-away database server of a suite's own (test/support/postgres-server.ts,
 * mariadb-server.ts), which it can stop, freeze and start again under running services.
 */
export interface DatabaseServer {
  /** The URL of the server (PostgreSQL: its `postgres` database; MariaDB: no database). */
  readonly url: string;
  readonly port: number;
  /** Which server this is, for the test output, e.g. "PostgreSQL 15.18 (…)". */
  readonly description: string;
  /** Starts the server again on the same data and port after `stop`. */
  start(): Promise<void>;
  /** Stops the server cleanly, keeping its data. */
  stop(): Promise<void>;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
  /** Freezes every server process (SIGSTOP): connections stay open but nothing answers. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
  /** CPU seconds (user + system) the server's processes have used so far. */
  cpuSeconds(): number;
}

/**
 * What the suites that run the service on a database need to know of its engine: how to start a
 * server and make a database, the STORAGE value, and how to look at what the service stored.
 * postgres-engine.ts and mariadb-engine.ts are the two; a suite takes one as a parameter.
 */
export interface DatabaseEngine {
  /** For test names: "PostgreSQL", "MariaDB". */
  readonly name: string;
  /** The service's STORAGE for it. */
  readonly storage: "postgres" | "mysql";
  /** The key under which the run's global setup provides its shared server's URL. */
  readonly sharedServer: "postgresUrl" | "mariadbUrl";
  startServer(): Promise<DatabaseServer>;
  /** Creates a fresh, empty database on the server at `serverUrl` and returns its URL. */
  createDatabase(serverUrl: string): Promise<string>;
  /** The otp_id of the latest code of (email, login): the last activated (highest seq). */
  activeOtpId(databaseUrl: string, email: string): Promise<string | undefined>;
  /** Every stored session: its id and its token hash in lowercase hex. */
  sessionRows(databaseUrl: string): Promise<{ session_id: string; token_hash: string }[]>;
  /** Every row of the codes, attempts, users, limits and idempotency tables, as one text. */
  storedText(databaseUrl: string): Promise<string>;
  /** What the audit compares the ledger with, for `emails`. */
  readState(databaseUrl: string, emails: readonly string[]): Promise<DatabaseState>;
}
