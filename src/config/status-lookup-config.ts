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

function parseServiceTokens(variable: string, value: string): string[] {
  const tokens = value
    .split(",")
    .map((token) => token.trim())
    .filter((token) => token !== "");
  const short = tokens.findIndex((token) => token.length < MIN_SERVICE_TOKEN_LENGTH);
  if (tokens.length === 0 || short !== -1) {
    // The secrets are never repeated; the position says which one is wrong.
    const which = short === -1 ? "" : ` (token ${short + 1} is shorter)`;
    throw new ConfigError(
      variable,
      "(hidden)",
      `expected comma-separated secrets of at least ${MIN_SERVICE_TOKEN_LENGTH} characters each${which}`,
    );
  }
  return tokens;
}
