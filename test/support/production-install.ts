import { execFile } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// What an operator deploys: the build output and the package files, with runtime dependencies
// only (`npm ci --omit=dev`). No TypeScript, no tsx, no esbuild in it.

const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** A production install in a fresh temporary directory; `remove` deletes it. */
export interface ProductionInstall {
  readonly dir: string;
  remove(): Promise<void>;
}

/**
 * Builds the service as `npm run build` does, but into a temporary directory (the repository's own
 * dist/ is left alone for tests running beside this one), copies package.json and the lock file
 * beside it and installs the runtime dependencies there with `npm ci --omit=dev`.
 */
export async function createProductionInstall(): Promise<ProductionInstall> {
  const dir = await mkdtemp(join(tmpdir(), "otp-auth-production-"));
  const inRepo = { cwd: repoRoot };
  await run("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", join(dir, "dist")], inRepo);
  await run("npm", ["run", "build:web", "--", `--outdir=${join(dir, "dist", "web")}`], inRepo);
  for (const file of ["package.json", "package-lock.json"]) {
    await cp(join(repoRoot, file), join(dir, file));
  }
  await run("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], { cwd: dir });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
