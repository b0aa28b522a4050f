import { configDefaults, defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// `npm run test:system`: the suites that need a program npm cannot install (PgBouncer, PyJWT,
// MariaDB), on the same harness as `npm test`, plus one MariaDB server for the run. Spread rather
// than mergeConfig, which would add this file list to npm test's instead of replacing it.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/**/*.system.test.ts"],
    exclude: configDefaults.exclude,
    globalSetup: [
      "test/support/system-programs-global-setup.ts",
      ...[base.test?.globalSetup ?? []].flat(),
      "test/support/mariadb-global-setup.ts",
    ],
  },
});
