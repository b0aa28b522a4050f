import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { killServices } from "../support/service-process.js";
import {
  AUDIENCE,
  EMAIL,
  fetchJwks,
  forgeries,
  ISSUER,
  type SigningService,
  startSigningService,
} from "./signing-service.js";

// A real service process signs; the tests verify with jose's createLocalJWKSet, which knows
// nothing but the JWKS document the service publishes. access-tokens-pyjwt.system.test.ts does
// the same with PyJWT, a verifier outside Node.

afterEach(() => {
  killServices();
});

/** Verifies as a relying service would: pinned algorithms, issuer, audience and type. */
function verifyWith(jwks: { keys: Record<string, string>[] }, token: string) {
  return jwtVerify(token, createLocalJWKSet(jwks as never), {
    algorithms: ["ES256", "EdDSA"],
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: "at+jwt",
  });
}

describe("access tokens", () => {
  let signer: SigningService;

  it("the JWKS holds the public part of every key, cacheable and readable from any origin", async () => {
    signer = await startSigningService(["ES256", "EdDSA"]);
    const { res, jwks } = await fetchJwks(signer.baseUrl);
    expect(res.headers.get("cache-control")).toBe("public, max-age=600");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("content-type")).toBe("application/jwk-set+json");
    expect(jwks.keys.map((key) => Object.keys(key).sort())).toEqual([
      ["alg", "crv", "kid", "kty", "use", "x", "y"],
      ["alg", "crv", "kid", "kty", "use", "x"],
    ]);
    expect(jwks.keys.map((key) => [key.kid, key.alg, key.use])).toEqual([
      ["key-1", "ES256", "sig"],
      ["key-2", "EdDSA", "sig"],
    ]);
    for (const key of signer.privateKeys as { d: string }[]) {
      expect(JSON.stringify(jwks)).not.toContain(key.d);
    }
    expect(
      (await fetch(`${signer.baseUrl}/.well-known/jwks.json`, { method: "POST" })).status,
    ).toBe(405);
  });

  it("a login's access token verifies against the JWKS alone, with exactly SPEC's claims", async () => {
    signer = await startSigningService(["ES256", "EdDSA"]);
    const verified = await signer.login();
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { payload, protectedHeader } = await verifyWith(jwks, verified.accessToken as string);
    expect(protectedHeader).toEqual({ alg: "ES256", kid: "key-1", typ: "at+jwt" });
    expect(payload).toEqual({
      iss: ISSUER,
      sub: verified.userId,
      aud: AUDIENCE,
      client_id: "otp-auth",
      email: EMAIL,
      purpose: "login",
      sid: verified.sessionId,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: (payload.iat as number) + 600,
      amr: ["otp"],
    });
    expect(Date.parse(verified.accessTokenExpiresAt as string)).toBe(
      (payload.exp as number) * 1000,
    );

    // GetStatus by session token answers a fresh token for the same session.
    const status = await signer.post("GetStatus", { sessionToken: verified.sessionToken });
    const fresh = await verifyWith(jwks, status.accessToken as string);
    expect(fresh.payload).toMatchObject({ sub: verified.userId, sid: verified.sessionId });
    expect(fresh.payload.jti).not.toBe(payload.jti);
  });

  it("an Ed25519 key signs EdDSA tokens that verify the same way", async () => {
    signer = await startSigningService(["EdDSA"]);
    const verified = await signer.login();
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { protectedHeader } = await verifyWith(jwks, verified.accessToken as string);
    expect(protectedHeader).toEqual({ alg: "EdDSA", kid: "key-1", typ: "at+jwt" });
  });

  it("the verifier rejects another key's token, alg none, a changed claim and a past exp", async () => {
    signer = await startSigningService(["ES256"]);
    const verified = await signer.login();
    const token = verified.accessToken as string;
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { otherKey, unsigned, changed, expired } = await forgeries(signer, token);

    const codes = async (candidate: string) =>
      verifyWith(jwks, candidate).then(
        () => "accepted",
        (error: { code?: string }) => error.code,
      );
    expect(await codes(token)).toBe("accepted");
    expect(await codes(otherKey)).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    expect(await codes(unsigned)).toBe("ERR_JOSE_ALG_NOT_ALLOWED");
    expect(await codes(changed)).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    expect(await codes(expired)).toBe("ERR_JWT_EXPIRED");
  });

  it("a rotation's second key is published before it signs", async () => {
    signer = await startSigningService(["ES256", "EdDSA"]);
    const { jwks } = await fetchJwks(signer.baseUrl);
    const second = await importJWK(signer.privateKeys[1] as never, "EdDSA");
    const now = Math.floor(Date.now() / 1000);
    const byNextKey = await new SignJWT({ jti: "x", email: EMAIL })
      .setProtectedHeader({ alg: "EdDSA", kid: "key-2", typ: "at+jwt" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject("user")
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(second);
    await expect(verifyWith(jwks, byNextKey)).resolves.toBeDefined();
  });
});
