import { readFileSync } from "node:fs";
import { base64url, decodeJwt, generateKeyPair, importJWK, type JWTPayload, SignJWT } from "jose";
import { expect } from "vitest";
import type { SigningAlgorithm } from "../../src/tokens/signing-keys.js";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { codeFromConsole, startService } from "../support/service-process.js";

// A real service process that signs access tokens, for tests whose verifiers know nothing but
// the JWKS document it publishes (access-tokens.test.ts: jose; the .system one: PyJWT).

export const ISSUER = "https://auth.example.test";
export const AUDIENCE = "api.example.test";
export const EMAIL = "ada@example.com";

export type SigningService = Awaited<ReturnType<typeof startSigningService>>;

/**
 * Starts a service signing with a fresh key set of `algorithms` (the first signs), with ISSUER and
 * AUDIENCE unless `env` says otherwise.
 */
export async function startSigningService(
  algorithms: SigningAlgorithm[],
  env: Record<string, string> = {},
) {
  const keysFile = writeKeySetFile(algorithms);
  const { service, port } = await startService({
    ACCESS_TOKEN_KEYS: keysFile,
    ACCESS_TOKEN_ISSUER: ISSUER,
    ACCESS_TOKEN_AUDIENCE: AUDIENCE,
    ACCESS_TOKEN_TTL: "10m",
    ...env,
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

/** The service's JWKS document, and the response that carried it. */
export async function fetchJwks(baseUrl: string) {
  const res = await fetch(`${baseUrl}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return { res, jwks: (await res.json()) as { keys: Record<string, string>[] } };
}

/**
 * Tokens every verifier must reject, made from `token` (a token the service signed with its
 * first key, of algorithm `alg`): another key's signature under the set's kid, alg none, a changed
 * claim, the service's own key with a past exp (which only the verifier's exp check can catch),
 * and the service's own key for another audience.
 */
export async function forgeries(
  signer: SigningService,
  token: string,
  alg: SigningAlgorithm = "ES256",
) {
  const payload = decodeJwt(token);
  const header = { alg, kid: "key-1", typ: "at+jwt" };
  const stranger = await generateKeyPair(alg);
  const otherKey = await new SignJWT(payload).setProtectedHeader(header).sign(stranger.privateKey);
  const unsigned = `${base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt", kid: "key-1" }))}.${token.split(".")[1]}.`;
  const changed = withPayload(token, { ...payload, email: "mallory@example.com" });
  const ownKey = await importJWK(signer.privateKeys[0] as never, alg);
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ ...payload, iat: now - 1200, exp: now - 600 })
    .setProtectedHeader(header)
    .sign(ownKey);
  const otherAudience = await new SignJWT({ ...payload, aud: "another-api.example.test" })
    .setProtectedHeader(header)
    .sign(ownKey);
  return { otherKey, unsigned, changed, expired, otherAudience };
}

/** The token with its payload replaced by `payload` and its signature kept. */
function withPayload(token: string, payload: JWTPayload): string {
  const [header, , signature] = token.split(".");
  return `${header}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}
