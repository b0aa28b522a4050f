import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { ConfigError } from "../../src/config/parse-values.js";

// SERVICE_TOKENS (SPEC.md "Abuse", protocol hygiene): entries trimmed; one with whitespace
// inside, shorter than 32 characters, or a placeholder rather than a secret stops start-up,
// naming the variable and the entry's position and never repeating a token.

/** What `openssl rand -base64 32` and `openssl rand -hex 16` print. */
const BASE64 = "q3Vx9TfLm2Pw8RzK1cYb6HnJd4Ga0EsU7oXiQeWtN5k=";
const HEX = "3f9a0c7e51d24b86a1e0f7c39d5b2e84";

function refusal(value: string): ConfigError {
  try {
    loadConfig({ SERVICE_TOKENS: value });
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error(`expected SERVICE_TOKENS=${JSON.stringify(value)} to be refused`);
}

describe("SERVICE_TOKENS", () => {
  it("trims each entry and skips blank ones", () => {
    expect(loadConfig({ SERVICE_TOKENS: `  ${BASE64} ,\t${HEX}\n, ,` }).serviceTokens).toEqual([
      BASE64,
      HEX,
    ]);
  });

  it("accepts random tokens of 32 characters or more from the usual alphabets", () => {
    const tokens = [
      BASE64,
      HEX,
      "Zk7pW2mQ9xR4vT1nB8cL5yH3jF6gD0sA-_eUiOoPrMt",
      "!#$%&()*+-./:;<=>?@[]^_{|}~01234",
    ];
    expect(loadConfig({ SERVICE_TOKENS: tokens.join(",") }).serviceTokens).toEqual(tokens);
  });

  it.each([
    ["shorter than 32 characters", BASE64.slice(0, 31), "is shorter than 32 characters"],
    ["a space inside", `${HEX.slice(0, 16)} ${HEX.slice(16)}`, "has whitespace inside"],
    ["a tab inside", `${HEX.slice(0, 16)}\t${HEX.slice(16)}`, "has whitespace inside"],
    [
      "a no-break space inside",
      `${HEX.slice(0, 16)}\u00a0${HEX.slice(16)}`,
      "has whitespace inside",
    ],
    ["a character no header carries", `${HEX}é`, "has a character outside visible ASCII"],
    ["32 copies of one character", "a".repeat(32), "has fewer than 8 distinct characters"],
    ["a short pattern repeated", "abcdefg".repeat(6), "has fewer than 8 distinct characters"],
  ])("refuses an entry with %s, naming its position and not its value", (_what, bad, problem) => {
    const error = refusal(`${BASE64},${bad}`);
    expect(error.variable).toBe("SERVICE_TOKENS");
    expect(error.message).toMatch(/^SERVICE_TOKENS="\(hidden\)" is not valid: expected /);
    expect(error.message).toContain(`(token 2 ${problem})`);
    expect(error.message).not.toContain(bad);
    expect(error.message).not.toContain(BASE64);
  });

  it("refuses a value with no entry at all", () => {
    expect(refusal(" , ,").message).toMatch(/^SERVICE_TOKENS="\(hidden\)" is not valid: expected /);
  });

  it("takes exactly 8 distinct characters, and not 7", () => {
    expect(loadConfig({ SERVICE_TOKENS: "abcdefgh".repeat(4) }).serviceTokens).toHaveLength(1);
    expect(refusal("abcdefga".repeat(4)).message).toContain("fewer than 8 distinct characters");
  });
});
