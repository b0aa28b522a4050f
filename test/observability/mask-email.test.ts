import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import { normalizeEmail } from "../../src/domain/validate.js";
import { createLogger } from "../../src/observability/logger.js";
import { maskEmailsIn } from "../../src/observability/mask-email.js";

// The second masking layer: addresses quoted inside messages (an SMTP refusal naming the
// recipient, a database error) are masked whatever the validator let through, delimiters in the
// local part included. Checked on the logger's own output.

/** Every string in a parsed log entry, however deep. */
function stringsIn(value: unknown): string[] {
  if (typeof value === "string") {
    return [value];
  }
  if (value !== null && typeof value === "object") {
    return Object.values(value).flatMap(stringsIn);
  }
  return [];
}

/** Logs `text` as a message, an error's message and a field; answers every string written. */
function logged(text: string): string {
  const lines: unknown[] = [];
  const logger = createLogger({
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  logger.error({ err: new Error(text), reason: text, notes: [text] }, text);
  expect(lines).toHaveLength(1);
  return stringsIn(lines).join("\n");
}

/** Whether `normalizeEmail` accepts `address`. */
function accepted(address: string): boolean {
  try {
    normalizeEmail(address);
    return true;
  } catch (error) {
    if (error instanceof OtpError) {
      return false;
    }
    throw error;
  }
}

// Where messages quote an address: SMTP replies, constraint violations, lists, quotes.
const TEMPLATES = [
  (a: string) => a,
  (a: string) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown`,
  (a: string) => `send to ${a} failed`,
  (a: string) => `Key (email)=(${a}) already exists.`,
  (a: string) => `"${a}"`,
  (a: string) => `'${a}'`,
  (a: string) => `[${a}]`,
  (a: string) => `to:${a},cc:${a}`,
  (a: string) => `${a}; bob@example.com`,
  (a: string) => `${a}\n${a}`,
];

describe("addresses inside logged text", () => {
  it.each([
    ["john.smith,jr@example.com", "john.smith,j***@example.com"],
    ["to:ann@example.com", "to:a***@example.com"],
    ["<Ann@Example.COM>", "<a***@example.com>"],
    ['"john"@example.com', '"***@example.com'],
    ['<"john.smith"@example.com>', "<***@example.com>"],
    ["john.smith(home)@example.com", "j***@example.com"],
    ["a\\b@example.com", "a\\b***@example.com"],
    ["john,@example.com", "j***@example.com"],
    ["ann@[192.0.2.1]", "a***@[192.0.2.1]"],
    ["ann@(x)example.com", "a***@(x)example.com"],
    ["😀ann@example.com", "😀***@example.com"],
    ["a***@example.com and ann@example.com", "a***@example.com and a***@example.com"],
  ])("%s is written %s", (text, masked) => {
    expect(maskEmailsIn(text)).toBe(masked);
    expect(maskEmailsIn(masked)).toBe(masked);
  });

  it("leaves every address the validator accepts masked, in messages, errors and fields", () => {
    const character = fc.oneof(
      fc.constantFrom(..."abcxyzABCXYZ0189.!#$%&'*+/=?^_`{|}~-"),
      fc.constantFrom(...",;:'\"()<>[]\\"),
      fc.constantFrom("é", "ß", "Ü", "日", "本", "😀", "\u0301"),
    );
    const label = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/);
    const address = fc
      .record({
        local: fc.array(character, { minLength: 1, maxLength: 64 }).map((chars) => chars.join("")),
        domain: fc.array(label, { minLength: 2, maxLength: 3 }).map((labels) => labels.join(".")),
      })
      .map(({ local, domain }) => `${local}@${domain}`)
      .filter(accepted)
      // An address that already reads as masked (`x***` after its last delimiter) is its own
      // mask, and `*@x`, `**@x` are inside theirs (`****@x`): masking shows of them what it
      // shows of any address.
      .filter((a) => !/(^|[,;:'"()<>[\]\\])[^*]?\*\*\*@/u.test(a) && !/^\*{1,2}@/.test(a));

    fc.assert(
      fc.property(address, fc.constantFrom(...TEMPLATES), (a, template) => {
        const written = logged(template(a)).toLowerCase();
        expect(written).not.toContain(a.toLowerCase());
        expect(written).not.toContain(normalizeEmail(a));
        // What is shown of it is its domain, after an `@`.
        expect(written).toContain(`@${a.slice(a.lastIndexOf("@") + 1).toLowerCase()}`);
      }),
      { numRuns: 2_000 },
    );
  });
});
