import type { StatusByEmail } from "../domain/policy.js";
import { type Env, read } from "./env.js";
import { ConfigError } from "./parse-values.js";

/** Who may ask GetStatus about an email: SERVICE_TOKENS and STATUS_BY_EMAIL. */
export interface StatusLookupConfig {
  /** Secrets a caller presents as `authorization: Bearer …` (SERVICE_TOKENS); empty when unset. */
  readonly serviceTokens: readonly string[];
  /** Without service tokens: `closed` refuses every email lookup, `open` answers anyone. */
  readonly statusByEmail: StatusByEmail;
}

const MIN_SERVICE_TOKEN_LENGTH = 32;
/** Fewer distinct characters than this is a placeholder (`aaaa…`, `abab…`), not a secret. */
const MIN_DISTINCT_CHARACTERS = 8;

/**
 * Reads SERVICE_TOKENS and STATUS_BY_EMAIL (`closed` by default, or `open`). The two together are
 * refused: tokens gate every email lookup, so `open` would say something that is not so, and one
 * of the two is a mistake. Throws a ConfigError naming the variable; never one that shows a token.
 */
export function loadStatusLookupConfig(env: Env): StatusLookupConfig {
  const tokens = read(env, "SERVICE_TOKENS");
  const serviceTokens = tokens === undefined ? [] : parseServiceTokens("SERVICE_TOKENS", tokens);
  const open = read(env, "STATUS_BY_EMAIL");
  const statusByEmail = open === undefined ? "closed" : parseStatusByEmail("STATUS_BY_EMAIL", open);
  if (statusByEmail === "open" && serviceTokens.length > 0) {
    throw new ConfigError(
      "STATUS_BY_EMAIL",
      open ?? "",
      "open cannot be combined with SERVICE_TOKENS, which makes every email lookup need a token: unset STATUS_BY_EMAIL (or SERVICE_TOKENS)",
    );
  }
  return { serviceTokens, statusByEmail };
}

function parseStatusByEmail(variable: string, value: string): StatusByEmail {
  const mode = value.trim().toLowerCase();
  if (mode !== "closed" && mode !== "open") {
    throw new ConfigError(
      variable,
      value,
      "expected closed (the default: GetStatus by email needs a token from SERVICE_TOKENS) or open (anyone may ask whether an email has a live session; development only)",
    );
  }
  return mode;
}

/**
 * Comma-separated secrets, each trimmed (blank entries, such as after a trailing comma, are
 * skipped). An entry is refused when it is shorter than 32 characters, has whitespace or any
 * other character outside visible ASCII inside it (an HTTP header could not carry it, so it could
 * never match), or has fewer than 8 distinct characters: `aaaa…` or `abab…` is a placeholder, not
 * a secret (a random token of 32 characters from any usual alphabet has far more). The error names
 * the entry by its position, never by its value.
 */
function parseServiceTokens(variable: string, value: string): string[] {
  const tokens = value
    .split(",")
    .map((token) => token.trim())
    .filter((token) => token !== "");
  const accepts = `expected comma-separated secrets, each at least ${MIN_SERVICE_TOKEN_LENGTH} characters of visible ASCII (no spaces inside) with at least ${MIN_DISTINCT_CHARACTERS} distinct characters, such as the output of \`openssl rand -base64 32\``;
  if (tokens.length === 0) {
    throw new ConfigError(variable, "(hidden)", accepts);
  }
  tokens.forEach((token, index) => {
    const problem = serviceTokenProblem(token);
    if (problem !== null) {
      throw new ConfigError(variable, "(hidden)", `${accepts} (token ${index + 1} ${problem})`);
    }
  });
  return tokens;
}

/** What is wrong with one trimmed entry, or null. */
function serviceTokenProblem(token: string): string | null {
  if (/\s/u.test(token)) {
    return "has whitespace inside";
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return "has a character outside visible ASCII";
  }
  if (token.length < MIN_SERVICE_TOKEN_LENGTH) {
    return `is shorter than ${MIN_SERVICE_TOKEN_LENGTH} characters`;
  }
  if (new Set(token).size < MIN_DISTINCT_CHARACTERS) {
    return `has fewer than ${MIN_DISTINCT_CHARACTERS} distinct characters`;
  }
  return null;
}
