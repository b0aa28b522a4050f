import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium (package `chromium`); `.ci/run` installs it when it is missing. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

// Headless, as root, on a machine without outside network: without the background-networking
// flags Chromium keeps trying to reach Google's hosts. playwright-core starts every browser with
// a new empty profile (--user-data-dir) of its own, and refuses one passed here.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Starts headless Chromium through playwright-core. Throws when Chromium is not installed, so a
 * machine without it fails the browser tests instead of skipping them.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run 'apt-get install chromium' (.ci/run does)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: FLAGS });
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
