import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { createAccessTokenSigner } from "../../src/tokens/access-token-signer.js";
import {
  generatePrivateJwk,
  parseSigningKeySet,
  type SigningAlgorithm,
} from "../../src/tokens/signing-keys.js";

// The signer against jose's verifier and nothing else of ours but the published JWKS; the
// end-to-end tests do the same through a real process, and with PyJWT.

const claims = {
  sub: "user-1",
  email: "ada@example.com",
  purpose: "login",
  sid: "session-1",
  jti: "token-1",
  iat: Math.floor(Date.now() / 1000),
  exp: Math.floor(Date.now() / 1000) + 600,
  amr: ["otp"],
};

const options = { issuer: "i", audience: "i", clientId: "otp-auth" };

describe("the access token signer", () => {
  it.each([
    ["ES256", "api.example.test"],
    ["EdDSA", "api.example.test"],
    ["RS256", "api.example.test"],
    ["ES256", "https://auth.example.test"],
  ] as const)(
    "signs %s tokens (audience %s) in RFC 9068's profile that jose verifies with the JWKS alone",
    async (alg, audience) => {
      const keys = parseSigningKeySet({
        keys: [generatePrivateJwk(alg as SigningAlgorithm, "k1")],
      });
      const signer = createAccessTokenSigner(keys.signing, {
        issuer: "https://auth.example.test",
        audience,
        clientId: "otp-auth",
      });

      const token = await signer.sign(claims);

      expect(decodeProtectedHeader(token)).toEqual({ alg, kid: "k1", typ: "at+jwt" });
      const { payload } = await jwtVerify(token, createLocalJWKSet(keys.publicJwks as never), {
        issuer: "https://auth.example.test",
        audience,
        typ: "at+jwt",
        algorithms: [alg],
      });
      expect(payload).toEqual({
        iss: "https://auth.example.test",
        aud: audience,
        client_id: "otp-auth",
        ...claims,
      });
    },
  );

  it("writes `ext` and no `email` for an account named by external id", async () => {
    const keys = parseSigningKeySet({ keys: [generatePrivateJwk("ES256", "k1")] });
    const { email: _email, ...rest } = claims;
    const token = await createAccessTokenSigner(keys.signing, options).sign({
      ...rest,
      ext: "user-42",
    });
    const { payload } = await jwtVerify(token, createLocalJWKSet(keys.publicJwks as never));
    expect(payload).toEqual({ iss: "i", aud: "i", client_id: "otp-auth", ...rest, ext: "user-42" });
    expect(payload).not.toHaveProperty("email");
  });

  it("signs every token afresh: another key's JWKS does not verify it", async () => {
    const mine = parseSigningKeySet({ keys: [generatePrivateJwk("ES256", "k1")] });
    const other = parseSigningKeySet({ keys: [generatePrivateJwk("ES256", "k1")] });
    const token = await createAccessTokenSigner(mine.signing, options).sign(claims);
    await expect(jwtVerify(token, createLocalJWKSet(other.publicJwks as never))).rejects.toThrow(
      /signature verification failed/,
    );
  });
});
