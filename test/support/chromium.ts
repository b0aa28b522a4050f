import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium (package `chromium`), used when the machine has it. */
const SYSTEM_CHROMIUM = "/usr/bin/chromium";

// On a machine without outside network: without these Chromium keeps trying to reach Google's
// hosts. playwright-core starts every browser with a new empty profile (--user-data-dir) of its
// own, and refuses one passed here.
const OFFLINE_FLAGS = [
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
// Debian's Chromium, headless, as root.
const SYSTEM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", ...OFFLINE_FLAGS];

// @sparticuz/chromium's flags are made for scraping on AWS Lambda. Three of them switch off the
// same-origin policy, which the CORS tests are there to see enforced; --single-process (Lambda's
// sandbox needs it) makes the browser exit when a test closes its page.
const UNWANTED_FLAGS = new Set([
  "--disable-web-security",
  "--allow-running-insecure-content",
  "--disable-site-isolation-trials",
  "--single-process",
]);

/** A Chromium to launch, and where it came from (for the test output). */
export interface ChromiumChoice {
  readonly executablePath: string;
  readonly args: readonly string[];
  readonly source: "CHROMIUM_PATH" | "system" | "@sparticuz/chromium";
}

/**
 * Which Chromium the browser tests drive, chosen by `TEST_CHROMIUM`:
 * - `system`: `CHROMIUM_PATH`, else Debian's /usr/bin/chromium;
 * - `npm`: the headless Chromium of the `@sparticuz/chromium` devDependency, unpacked once into
 *   the temporary directory;
 * - `auto` (unset): `system` when the machine has one, else `npm`.
 * A set `CHROMIUM_PATH` that names no file is an error, not a reason to look elsewhere.
 */
export async function findChromium(): Promise<ChromiumChoice> {
  const mode = process.env.TEST_CHROMIUM || "auto";
  if (mode !== "auto" && mode !== "system" && mode !== "npm") {
    throw new Error(`TEST_CHROMIUM must be auto, system or npm, not ${JSON.stringify(mode)}`);
  }
  if (mode !== "npm") {
    const configured = process.env.CHROMIUM_PATH;
    const path = configured || SYSTEM_CHROMIUM;
    if (existsSync(path)) {
      return {
        executablePath: path,
        args: SYSTEM_FLAGS,
        source: configured ? "CHROMIUM_PATH" : "system",
      };
    }
    if (configured) {
      throw new Error(`CHROMIUM_PATH=${configured} names no file`);
    }
    if (mode === "system") {
      throw new Error(
        `TEST_CHROMIUM=system, but Chromium is not at ${path}: install chromium (Debian) or set CHROMIUM_PATH`,
      );
    }
  }
  return npmChromium();
}

/**
 * @sparticuz/chromium ships Chromium brotli-compressed and unpacks it into $TMPDIR. It is unpacked
 * in a child process into a directory of its own, renamed into place when complete: test files
 * in parallel workers may race to unpack it, and an interrupted unpacking must not leave a broken
 * browser behind for the next run.
 */
async function npmChromium(): Promise<ChromiumChoice> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve("@sparticuz/chromium");
  } catch (error) {
    throw new Error(
      `no Chromium from npm: @sparticuz/chromium is not installed (a devDependency; run 'npm ci'): ${(error as Error).message}`,
    );
  }
  const packageJson = join(dirname(entry), "..", "package.json");
  const { version } = JSON.parse(readFileSync(packageJson, "utf8")) as { version: string };
  const dir = join(tmpdir(), `otp-auth-chromium-${version}`);
  const executablePath = join(dir, "chromium");
  if (!existsSync(executablePath)) {
    const staging = mkdtempSync(`${dir}-unpacking-`);
    try {
      const unpack = `import c from ${JSON.stringify(entry)}; await c.executablePath();`;
      execFileSync(process.execPath, ["--input-type=module", "-e", unpack], {
        env: { ...process.env, TMPDIR: staging },
        stdio: "pipe",
      });
      renameSync(staging, dir);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      // Another worker finished first: its copy is as good as this one.
      if (!existsSync(executablePath)) {
        const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
        throw new Error(`could not unpack @sparticuz/chromium into ${dir}: ${stderr || error}`);
      }
    }
  }
  const { default: sparticuz } = await import("@sparticuz/chromium");
  const args = [...sparticuz.args.filter((flag) => !UNWANTED_FLAGS.has(flag)), ...OFFLINE_FLAGS];
  return { executablePath, args, source: "@sparticuz/chromium" };
}

/**
 * Starts headless Chromium (the one `findChromium` picks) through playwright-core and prints
 * which one it is. Throws when there is none, so a machine without it fails the browser tests
 * instead of skipping them.
 */
export async function launchChromium(): Promise<Browser> {
  const choice = await findChromium();
  const browser = await chromium.launch({
    executablePath: choice.executablePath,
    headless: true,
    args: [...choice.args],
  });
  console.log(
    `[test harness] Chromium ${browser.version()} (${choice.source}: ${choice.executablePath})`,
  );
  return browser;
}

/**
 * One Chromium for a test file, started by the first test that asks for it rather than in a
 * hook: when it cannot start, every browser test then fails with the reason instead of being
 * reported as skipped. `close` is for afterAll.
 */
export function createSharedChromium() {
  let launched: Promise<Browser> | undefined;
  return {
    browser: (): Promise<Browser> => {
      launched ??= launchChromium();
      return launched;
    },
    async close(): Promise<void> {
      const browser = await launched?.catch(() => undefined);
      await browser?.close();
    },
  };
}
