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
  /**
   * The issuer as a URL (an https origin, or http on a loopback address), which turns on the
   * discovery documents; null for an issuer that is a plain name (the default `otp-auth`).
   */
  readonly issuerUrl: string | null;
  /** `aud` (ACCESS_TOKEN_AUDIENCE); the issuer unless set, so a token always names one. */
  readonly audience: string;
  /** `client_id` (ACCESS_TOKEN_CLIENT_ID, default `otp-auth`). */
  readonly clientId: string;
}

const KEYS_ACCEPTS =
  'a file holding a JWK Set of private keys, {"keys":[…]}, EC P-256, OKP Ed25519 or RSA of 2048 bits or more, each with its own kid (npm run keys:generate prints one)';

/**
 * Reads ACCESS_TOKEN_KEYS (a file path; the file is read and every key checked now, so a bad key
 * stops start-up), ACCESS_TOKEN_ISSUER (a name, or a URL that turns on discovery),
 * ACCESS_TOKEN_AUDIENCE (the issuer unless set) and ACCESS_TOKEN_CLIENT_ID. With `sharedStorage`
 * (the STORAGE value, postgres or mysql, when instances share a database: every instance must sign
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
  const named = read(env, "ACCESS_TOKEN_ISSUER")?.trim() ?? "otp-auth";
  const issuerUrl = issuerUrlOf(named);
  // A URL issuer is its origin as URL writes it (lower-case host, no default port, no trailing
  // slash), so that `iss`, the discovery documents and their URLs all say the same string.
  const issuer = issuerUrl ?? named;
  return {
    keys: path === undefined ? null : readKeySet(path),
    issuer,
    issuerUrl,
    audience: read(env, "ACCESS_TOKEN_AUDIENCE")?.trim() ?? issuer,
    clientId: read(env, "ACCESS_TOKEN_CLIENT_ID")?.trim() ?? "otp-auth",
  };
}

const ISSUER_ACCEPTS =
  "a name such as otp-auth, or the service's public URL: an https origin (https://auth.example.com), or http on a loopback address for development (http://127.0.0.1:8080)";

/**
 * The issuer as a URL, when it is one: an origin (RFC 8414 puts the discovery documents at its
 * root, so no path, query or fragment), https, or http on a loopback address. Null for a name
 * that is no http(s) URL; a ConfigError for an http(s) URL that cannot be an issuer.
 */
function issuerUrlOf(issuer: string): string | null {
  if (!/^https?:\/\//i.test(issuer)) {
    return null;
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError("ACCESS_TOKEN_ISSUER", issuer, `not a URL; expected ${ISSUER_ACCEPTS}`);
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "") {
    throw new ConfigError(
      "ACCESS_TOKEN_ISSUER",
      issuer,
      `an issuer URL is an origin, with no path, query, fragment or credentials; expected ${ISSUER_ACCEPTS}`,
    );
  }
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new ConfigError(
      "ACCESS_TOKEN_ISSUER",
      issuer,
      `http is only for a loopback address (development); expected ${ISSUER_ACCEPTS}`,
    );
  }
  return url.origin;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
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
