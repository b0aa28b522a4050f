import { readFileSync } from "node:fs";
import { KeySetError, parseSigningKeySet, type SigningKeySet } from "../tokens/signing-keys.js";
import { type Env, read } from "./env.js";
import { ConfigError } from "./parse-values.js";

/** How access tokens are signed and what they say about their issuer and audience. */
export interface AccessTokenConfig {
  /** The keys from ACCESS_TOKEN_KEYS; null means a fresh ES256 key per process (memory only). */
  readonly keys: SigningKeySet | null;
  /** `iss` (ACCESS_TOKEN_ISSUER). */
  readonly issuer: string;
  /** `aud` (ACCESS_TOKEN_AUDIENCE), or null for none. */
  readonly audience: string | null;
}

const KEYS_ACCEPTS =
  'a file holding a JWK Set of private keys, {"keys":[…]}, EC P-256 or OKP Ed25519, each with its own kid (npm run keys:generate prints one)';

/**
 * Reads ACCESS_TOKEN_KEYS (a file path; the file is read and every key checked now, so a bad key
 * stops start-up), ACCESS_TOKEN_ISSUER and ACCESS_TOKEN_AUDIENCE. With `sharedStorage` (the
 * STORAGE value, postgres or mysql, when instances share a database: every instance must sign
 * with the same keys) an unset ACCESS_TOKEN_KEYS is refused. Throws a ConfigError naming the
 * variable; never one that shows key material.
 */
export function loadAccessTokenConfig(env: Env, sharedStorage: string | null): AccessTokenConfig {
  const path = read(env, "ACCESS_TOKEN_KEYS")?.trim();
  if (path === undefined && sharedStorage !== null) {
    throw new ConfigError(
      "ACCESS_TOKEN_KEYS",
      "",
      `required with STORAGE=${sharedStorage} (every instance must sign with the same keys): ${KEYS_ACCEPTS}`,
    );
  }
  return {
    keys: path === undefined ? null : readKeySet(path),
    issuer: read(env, "ACCESS_TOKEN_ISSUER")?.trim() ?? "otp-auth",
    audience: read(env, "ACCESS_TOKEN_AUDIENCE")?.trim() ?? null,
  };
}

function readKeySet(path: string): SigningKeySet {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    throw new ConfigError(
      "ACCESS_TOKEN_KEYS",
      path,
      `cannot read the file (${code}); expected ${KEYS_ACCEPTS}`,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new ConfigError(
      "ACCESS_TOKEN_KEYS",
      path,
      `the file is not JSON; expected ${KEYS_ACCEPTS}`,
    );
  }
  try {
    return parseSigningKeySet(document);
  } catch (error) {
    if (error instanceof KeySetError) {
      throw new ConfigError(
        "ACCESS_TOKEN_KEYS",
        path,
        `${error.message}; expected ${KEYS_ACCEPTS}`,
      );
    }
    throw error;
  }
}
