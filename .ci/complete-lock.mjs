// The npm registry mirror on this machine kind serves only the linux-x64 builds of @biomejs/biome
// and @bufbuild/buf, so `npm install` leaves their other platforms' optional packages out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds the missing
// entries (platform-only, never installed here) so `npm ci` accepts the lock. Run it after
// changing dependencies: `npm install && node .ci/complete-lock.mjs`.
import { readFileSync, writeFileSync } from "node:fs";

const lockPath = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const platforms = {
  "android-arm64": { os: ["android"], cpu: ["arm64"] },
  "android-x64": { os: ["android"], cpu: ["x64"] },
  "darwin-arm64": { os: ["darwin"], cpu: ["arm64"] },
  "darwin-x64": { os: ["darwin"], cpu: ["x64"] },
  "linux-arm64": { os: ["linux"], cpu: ["arm64"] },
  "linux-arm64-musl": { os: ["linux"], cpu: ["arm64"], libc: ["musl"] },
  "linux-x64-musl": { os: ["linux"], cpu: ["x64"], libc: ["musl"] },
  "linux-armv7": { os: ["linux"], cpu: ["arm"] },
  "win32-arm64": { os: ["win32"], cpu: ["arm64"] },
  "win32-x64": { os: ["win32"], cpu: ["x64"] },
};

let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (lock.packages[target] !== undefined) {
      continue;
    }
    const platform = Object.entries(platforms).find(([suffix]) => name.endsWith(`-${suffix}`));
    if (platform === undefined) {
      throw new Error(
        `${path} needs ${name}, which is not in the lock and not a known platform build`,
      );
    }
    lock.packages[target] = { version, ...platform[1], dev: entry.dev, optional: true };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) =>
    a === "" ? -1 : b === "" ? 1 : a.localeCompare(b),
  ),
);
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} platform entries`);
