import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // A skipped or focused test must not pass CI quietly.
    allowOnly: false,
    passWithNoTests: false,
  },
});
