import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  base64url,
  createLocalJWKSet,
  generateKeyPair,
  importJWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from "jose";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { codeFromConsole, killServices, startService } from "../support/service-process.js";

// A real service process signs; the tests verify with verifiers that know nothing but the JWKS
// document the service publishes: jose's createLocalJWKSet here, PyJWT in a Python process.

const ISSUER = "https://auth.example.test";
const AUDIENCE = "api.example.test";
const EMAIL = "ada@example.com";
const PYJWT_VERIFIER = fileURLToPath(new URL("../support/pyjwt-verify.py", import.meta.url));

afterEach(() => {
  killServices();
});

/** Starts a service signing with a fresh key set of `algorithms` (the first signs). */
async function startSigner(algorithms: ("ES256" | "EdDSA")[]) {
  const keysFile = writeKeySetFile(algorithms);
  const { service, port } = await startService({
    ACCESS_TOKEN_KEYS: keysFile,
    ACCESS_TOKEN_ISSUER: ISSUER,
    ACCESS_TOKEN_AUDIENCE: AUDIENCE,
    ACCESS_TOKEN_TTL: "10m",
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const post = async (method: string, body: object) => {
    const res = await fetch(`${baseUrl}/auth.v1.AuthService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, string>;
  };
  const login = async () => {
    const { otpId } = await post("RequestOtp", { email: EMAIL });
    const otp = await codeFromConsole(service, otpId as string);
    return post("VerifyOtp", { email: EMAIL, otp });
  };
  const privateKeys = (JSON.parse(readFileSync(keysFile, "utf8")) as { keys: object[] }).keys;
  return { service, baseUrl, post, login, privateKeys };
}

async function fetchJwks(baseUrl: string) {
  const res = await fetch(`${baseUrl}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return { res, jwks: (await res.json()) as { keys: Record<string, string>[] } };
}

/** Verifies as a relying service would: pinned algorithms, issuer, audience and type. */
function verifyWith(jwks: { keys: Record<string, string>[] }, token: string) {
  return jwtVerify(token, createLocalJWKSet(jwks as never), {
    algorithms: ["ES256", "EdDSA"],
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: "at+jwt",
  });
}

/** Runs PyJWT over `tokens`, fed only `jwks`. */
function verifyWithPython(jwks: object, tokens: Record<string, string>): Record<string, string> {
  const out = execFileSync("/usr/bin/python3", [PYJWT_VERIFIER], {
    input: JSON.stringify({ jwks, tokens, issuer: ISSUER, audience: AUDIENCE }),
  });
  return JSON.parse(out.toString()) as Record<string, string>;
}

/** The token with its payload replaced by `payload` and its signature kept. */
function withPayload(token: string, payload: JWTPayload): string {
  const [header, , signature] = token.split(".");
  return `${header}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

describe("access tokens", () => {
  let signer: Awaited<ReturnType<typeof startSigner>>;
  beforeAll(() => {
    // Fail early and clearly if the non-Node verifier is missing (CI installs python3-jwt).
    execFileSync("/usr/bin/python3", ["-c", "import jwt, cryptography"]);
  });

  it("the JWKS holds the public part of every key, cacheable and readable from any origin", async () => {
    signer = await startSigner(["ES256", "EdDSA"]);
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
    signer = await startSigner(["ES256", "EdDSA"]);
    const verified = await signer.login();
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { payload, protectedHeader } = await verifyWith(jwks, verified.accessToken as string);
    expect(protectedHeader).toEqual({ alg: "ES256", kid: "key-1", typ: "at+jwt" });
    expect(payload).toEqual({
      iss: ISSUER,
      sub: verified.userId,
      aud: AUDIENCE,
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
    signer = await startSigner(["EdDSA"]);
    const verified = await signer.login();
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { protectedHeader } = await verifyWith(jwks, verified.accessToken as string);
    expect(protectedHeader).toEqual({ alg: "EdDSA", kid: "key-1", typ: "at+jwt" });
    expect(verifyWithPython(jwks, { eddsa: verified.accessToken as string })).toEqual({
      eddsa: `ok ${verified.userId}`,
    });
  });

  it("the verifiers reject another key's token, alg none, a changed claim and a past exp", async () => {
    signer = await startSigner(["ES256"]);
    const verified = await signer.login();
    const token = verified.accessToken as string;
    const { jwks } = await fetchJwks(signer.baseUrl);
    const { payload } = await verifyWith(jwks, token);

    // A key not in the set, claiming the set's kid.
    const stranger = await generateKeyPair("ES256");
    const otherKey = await new SignJWT(payload)
      .setProtectedHeader({ alg: "ES256", kid: "key-1", typ: "at+jwt" })
      .sign(stranger.privateKey);
    const unsigned = `${base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt", kid: "key-1" }))}.${token.split(".")[1]}.`;
    const changed = withPayload(token, { ...payload, email: "mallory@example.com" });
    // The service's own key, but expired: only the verifier's exp check can reject it.
    const ownKey = await importJWK(signer.privateKeys[0] as never, "ES256");
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...payload, iat: now - 1200, exp: now - 600 })
      .setProtectedHeader({ alg: "ES256", kid: "key-1", typ: "at+jwt" })
      .sign(ownKey);

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

    expect(verifyWithPython(jwks, { token, otherKey, unsigned, changed, expired })).toEqual({
      token: `ok ${verified.userId}`,
      otherKey: "rejected InvalidSignatureError",
      unsigned: expect.stringMatching(/^rejected /),
      changed: "rejected InvalidSignatureError",
      expired: "rejected ExpiredSignatureError",
    });
  });

  it("a rotation's second key is published before it signs", async () => {
    signer = await startSigner(["ES256", "EdDSA"]);
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
