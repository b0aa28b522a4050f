/**
 * How a service process reaches a PostgreSQL server: directly, or through a pooler in front of
 * it (test/support/pgbouncer.ts). Suites that must hold either way take one as a parameter.
 */
export interface DatabaseRoute {
  /** For test names: "directly", "through PgBouncer (transaction pooling)". */
  readonly name: string;
  /** Starts whatever stands between the service and the server at `serverUrl`. */
  open(serverUrl: string): Promise<OpenRoute>;
}

export interface OpenRoute {
  /** The service's environment for reaching `databaseUrl`, a database on the server, this way. */
  env(databaseUrl: string): Record<string, string>;
  /** Stops whatever `open` started. */
  close(): Promise<void>;
}

/** The service connects to the server itself. */
export const direct: DatabaseRoute = {
  name: "directly",
  open: async () => ({
    env: (databaseUrl) => ({ DATABASE_URL: databaseUrl }),
    close: async () => {},
  }),
};
