import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// docs/development.md's layout section names files and folders one per line, as backticked paths
// from the repository root. Held to the tree here, so that a file added, moved or removed without
// the page fails the run instead of misleading the next reader.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PAGE = "docs/development.md";
const HEADING = "## Layout";
/** Folders whose every file and subfolder the section must name. */
const NAMED_IN_FULL = ["src"];
/** Backticked text is a path when it starts with one of the repository's folders. */
const PATH = /^(src|test|proto|gen|docs|\.ci)\//;

/** The text between the layout heading and the next heading of the same level. */
function layoutSection(): string {
  const lines = readFileSync(join(ROOT, PAGE), "utf8").split("\n");
  const start = lines.findIndex((line) => line.trim() === HEADING);
  if (start === -1) {
    throw new Error(`${PAGE} has no "${HEADING}" heading`);
  }
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  return lines.slice(start + 1, end === -1 ? undefined : end).join("\n");
}

/** Every path the section names, without a folder's trailing slash. */
function namedPaths(): Set<string> {
  const named = new Set<string>();
  for (const [, text = ""] of layoutSection().matchAll(/`([^`\n]+)`/g)) {
    if (PATH.test(text)) {
      named.add(text.replace(/\/$/, ""));
    }
  }
  return named;
}

/** `folder` and every file and folder under it, as paths from the repository root. */
function tree(folder: string): string[] {
  const entries = readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" });
  return [folder, ...entries.map((entry) => `${folder}/${entry.split(sep).join("/")}`)];
}

describe(`the layout in ${PAGE}`, () => {
  const named = namedPaths();

  it("names paths at all", () => {
    expect(named.size).toBeGreaterThan(0);
  });

  it.each(NAMED_IN_FULL)("names every file and folder under %s/", (folder) => {
    const missing = tree(folder).filter((path) => !named.has(path));
    expect(missing, `add these to ${PAGE}, "${HEADING}"`).toEqual([]);
  });

  it("names only paths that exist", () => {
    const gone = [...named].filter((path) => !existsSync(join(ROOT, path)));
    expect(gone, `remove or rename these in ${PAGE}, "${HEADING}"`).toEqual([]);
  });
});
