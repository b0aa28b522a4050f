import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { batchedStdout } from "../../src/observability/batched-stdout.js";

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("the log destination (stdout, once per event-loop turn)", () => {
  it("writes a turn's entries together, whole and in order, when the turn ends", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "otp-log-")), "out");
    const fd = openSync(path, "w");
    try {
      const out = batchedStdout(fd);
      out.write('{"n":1}\n');
      out.write('{"n":2}\n');
      expect(readFileSync(path, "utf8")).toBe("");
      await turn();
      expect(readFileSync(path, "utf8")).toBe('{"n":1}\n{"n":2}\n');
      out.write('{"n":3}\n');
      await turn();
      expect(readFileSync(path, "utf8")).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
    } finally {
      closeSync(fd);
    }
  });

  it.each([
    ["exits", "process.exit(3)", 3],
    ["throws", "throw new Error('boom')", 1],
  ])("loses no entry when the process %s right after logging", (_, end, status) => {
    const script = [
      'import { createLogger } from "./src/observability/logger.ts";',
      "const logger = createLogger();",
      "for (let i = 0; i < 5000; i++) logger.info({ i }, 'entry');",
      end,
    ].join("\n");
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        encoding: "utf8",
      },
    );
    expect(child.status).toBe(status);
    const lines = child.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5000);
    expect(lines.map((line) => JSON.parse(line).i)).toEqual([...Array(5000).keys()]);
  });
});
