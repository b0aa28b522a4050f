import type { TestProject } from "vitest/node";
import { type MariadbServer, startMariadbServer } from "./mariadb-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the MariaDB server shared by the run; each file creates its own database on it. */
    mariadbUrl: string;
  }
}

let server: MariadbServer | undefined;

/**
 * Starts one MariaDB server for the whole `npm run test:system` run and says in the run's output
 * which it is. (system-programs-global-setup.ts has already named the package if it is missing.)
 */
export async function setup(project: TestProject): Promise<void> {
  server = await startMariadbServer();
  console.log(`[test harness] ${server.description}`);
  project.provide("mariadbUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
}
