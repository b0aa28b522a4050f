import { SignJWT } from "jose";
import type { AccessTokenSigner } from "../domain/ports.js";
import type { SigningKey } from "./signing-keys.js";

export interface SignerOptions {
  /** `iss` of every token (ACCESS_TOKEN_ISSUER). */
  readonly issuer: string;
  /** `aud` of every token (ACCESS_TOKEN_AUDIENCE); none when null. */
  readonly audience: string | null;
}

/**
 * Signs access tokens with `key` (jose): header `alg`, `kid`, `typ: at+jwt`; the domain's claims
 * plus `iss` and, when configured, `aud`.
 */
export function createAccessTokenSigner(
  key: SigningKey,
  options: SignerOptions,
): AccessTokenSigner {
  return {
    sign(claims) {
      const jwt = new SignJWT({
        email: claims.email,
        purpose: claims.purpose,
        sid: claims.sid,
        amr: [...claims.amr],
      })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
        .setIssuer(options.issuer)
        .setSubject(claims.sub)
        .setJti(claims.jti)
        .setIssuedAt(claims.iat)
        .setExpirationTime(claims.exp);
      if (options.audience !== null) {
        jwt.setAudience(options.audience);
      }
      return jwt.sign(key.privateKey);
    },
  };
}
