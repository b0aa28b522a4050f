import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type { AccessTokenVerifier, UncheckedClaims } from "../domain/ports.js";
import type { SigningKey } from "./signing-keys.js";

// The digest each JWS algorithm signs with (EdDSA hashes inside the signature). RS256 is listed
// ahead of the key sets that hold RSA keys: a key's algorithm picks its row, and one with no row
// verifies nothing.
const DIGEST_OF: Readonly<Record<string, string | null>> = {
  ES256: "sha256",
  EdDSA: null,
  RS256: "sha256",
};

interface VerifyingKey {
  readonly alg: string;
  readonly digest: string | null;
  readonly publicKey: KeyObject;
}

/**
 * Verifies access tokens (compact JWS, RFC 7515) against the public part of `keys` (the
 * published set), with node:crypto as the signer signs them. The key is chosen by the header's
 * `kid` and verifies by its own algorithm: a header whose `alg` differs from it (`none`, HS256
 * with the public key as secret, …) is refused rather than obeyed, and `typ` must be `at+jwt`
 * (RFC 9068), so that no other JWT signed with these keys passes for an access token. ES256
 * signatures are the raw r‖s pair (ieee-p1363), as JWS has them.
 */
export function createAccessTokenVerifier(keys: readonly SigningKey[]): AccessTokenVerifier {
  const byKid = new Map<string, VerifyingKey>();
  for (const key of keys) {
    const digest = DIGEST_OF[key.alg];
    if (digest !== undefined) {
      byKid.set(key.kid, { alg: key.alg, digest, publicKey: createPublicKey(key.privateKey) });
    }
  }
  return {
    async verify(token) {
      const parts = token.split(".");
      const [header, payload, signature] = parts;
      if (parts.length !== 3 || header === undefined || payload === undefined || !signature) {
        return null;
      }
      const head = jsonObjectOf(header);
      const key = typeof head?.kid === "string" ? byKid.get(head.kid) : undefined;
      if (key === undefined || head?.alg !== key.alg || !isAccessTokenType(head.typ)) {
        return null;
      }
      let valid: boolean;
      try {
        valid = verify(
          key.digest,
          Buffer.from(`${header}.${payload}`),
          { key: key.publicKey, dsaEncoding: "ieee-p1363" },
          Buffer.from(signature, "base64url"),
        );
      } catch {
        // A signature of the wrong length for the key, say: not ours.
        return null;
      }
      return valid ? jsonObjectOf(payload) : null;
    },
  };
}

/** RFC 9068's `typ`, with or without the `application/` it may be written with. */
function isAccessTokenType(typ: unknown): boolean {
  return typeof typ === "string" && /^(?:application\/)?at\+jwt$/i.test(typ);
}

/** A base64url part holding a JSON object, or null. */
function jsonObjectOf(part: string): UncheckedClaims | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as UncheckedClaims)
      : null;
  } catch {
    return null;
  }
}
