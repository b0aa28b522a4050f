import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One real PostgreSQL server for the run; it fails the run if it cannot start.
    globalSetup: ["test/support/postgres-global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // A skipped or focused test must not pass CI quietly.
    allowOnly: false,
    passWithNoTests: false,
  },
});
