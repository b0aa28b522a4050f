import type { TestProject } from "vitest/node";
import { type PostgresServer, serverVersion, startPostgresServer } from "./postgres-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the PostgreSQL server shared by the run; each file creates its own database on it. */
    postgresUrl: string;
  }
}

let server: PostgresServer | undefined;

/**
 * Starts one PostgreSQL server for the whole test run (or uses TEST_DATABASE_URL) and says in the
 * run's output which PostgreSQL it is.
 */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEST_DATABASE_URL) {
    const version = await serverVersion(process.env.TEST_DATABASE_URL);
    console.log(`[test harness] PostgreSQL ${version} (TEST_DATABASE_URL)`);
    project.provide("postgresUrl", process.env.TEST_DATABASE_URL);
    return;
  }
  server = await startPostgresServer();
  console.log(`[test harness] ${server.description}`);
  project.provide("postgresUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
}
