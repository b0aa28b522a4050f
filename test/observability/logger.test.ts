import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.js";
import { maskEmail, maskEmailsDeep, maskEmailsIn } from "../../src/observability/mask-email.js";

/** A logger at `level` whose entries are parsed into `lines`. */
function capture(level: "info" | "warn" = "info") {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level,
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

describe("masking emails", () => {
  it.each([
    ["ann@example.com", "a***@example.com"],
    [" Ann.Smith@Example.COM ", "a***@example.com"],
    ["x@y.co", "x***@y.co"],
    ["a@b@c.example", "a***@c.example"],
    ["not an email", "***"],
    ["@example.com", "***"],
    ["", "***"],
  ])("%j is logged as %j", (email, masked) => {
    expect(maskEmail(email)).toBe(masked);
  });

  it("leaves an address it masked as it is", () => {
    for (const email of ["ann@example.com", "x@y.co", " Ann.Smith@Example.COM "]) {
      expect(maskEmailsIn(maskEmail(email))).toBe(maskEmail(email));
    }
    expect(maskEmailsIn("a***@example.com and bob@example.com")).toBe(
      "a***@example.com and b***@example.com",
    );
  });

  it("masks every address in free text and leaves the rest", () => {
    expect(maskEmailsIn("550 5.1.1 <bob.jones@mail.example>: rejected; cc ann@example.com")).toBe(
      "550 5.1.1 <b***@mail.example>: rejected; cc a***@example.com",
    );
  });
});

describe("the logger", () => {
  it("writes one JSON object per entry with the level's name and an ISO time", () => {
    const { logger, lines } = capture();

    logger.info({ port: 8080 }, "listening");
    logger.debug("not at info");

    expect(lines).toEqual([
      expect.objectContaining({ level: "info", name: "otp-auth", port: 8080, msg: "listening" }),
    ]);
    expect(new Date(String(lines[0]?.time)).toISOString()).toBe(lines[0]?.time);
  });

  it("masks addresses in fields, messages and errors, whatever logs them", () => {
    const { logger, lines } = capture();
    const error = Object.assign(new Error("550 <ann@example.com> recipient rejected"), {
      detail: "Key (email)=(ann@example.com) already exists.",
    });

    logger.error({ err: error, note: ["cc bob@example.com"] }, "send to ann@example.com failed");

    const text = JSON.stringify(lines);
    expect(text).not.toContain("ann@example.com");
    expect(text).not.toContain("bob@example.com");
    expect(lines[0]).toMatchObject({
      msg: "send to a***@example.com failed",
      note: ["cc b***@example.com"],
      err: {
        type: "Error",
        message: "550 <a***@example.com> recipient rejected",
        detail: "Key (email)=(a***@example.com) already exists.",
      },
    });
  });

  it("copies an entry only where an address was masked", () => {
    const clean = { method: "Check", code: "OK", note: ["no address"], nested: { n: 1 } };
    expect(maskEmailsDeep(clean)).toBe(clean);
    const entry = { reason: "550 <ann@example.com>", note: ["cc bob@example.com"], n: 1 };
    expect(maskEmailsDeep(entry)).toEqual({
      reason: "550 <a***@example.com>",
      note: ["cc b***@example.com"],
      n: 1,
    });
    expect(entry.reason).toBe("550 <ann@example.com>");
  });
});
