import { configDefaults, defineConfig } from "vitest/config";

// `npm test`: everything npm can provide. Suites named *.system.test.ts need a program from
// Debian and run under `npm run test:system` (test/vitest.system.config.ts).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "test/**/*.system.test.ts"],
    // One real PostgreSQL server for the run; it fails the run if it cannot start.
    globalSetup: ["test/support/postgres-global-setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // A skipped or focused test must not pass CI quietly.
    allowOnly: false,
    passWithNoTests: false,
  },
});
