import { findMariadb } from "./mariadb-server.js";
import { findPgAutoctl } from "./pg-auto-failover.js";
import { findPgBouncer } from "./pgbouncer.js";
import { findPyJwt } from "./pyjwt.js";
import { findReplicationBinaries } from "./replicated-postgres.js";

/**
 * The first check of `npm run test:system`: every program its suites need from Debian is there,
 * or the run fails naming each missing package, before any suite starts. Nothing is skipped.
 */
export function setup(): void {
  const found: string[] = [];
  const missing: string[] = [];
  for (const find of [
    () => {
      const { binary, version } = findPgBouncer();
      return `PgBouncer ${version} (${binary})`;
    },
    () => {
      const { python, version } = findPyJwt();
      return `PyJWT ${version} (${python})`;
    },
    () => {
      const { binary, version } = findMariadb();
      return `mariadbd ${version} (${binary})`;
    },
    () => `pg_basebackup (${findReplicationBinaries()})`,
    () => {
      const { binary, version } = findPgAutoctl();
      return `pg_autoctl ${version} (${binary})`;
    },
  ]) {
    try {
      found.push(find());
    } catch (error) {
      missing.push((error as Error).message);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `npm run test:system needs programs npm cannot install:\n  ${missing.join("\n  ")}`,
    );
  }
  for (const program of found) {
    console.log(`[test harness] ${program}`);
  }
}
