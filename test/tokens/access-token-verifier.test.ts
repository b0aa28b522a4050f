import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AccessTokenClaims } from "../../src/domain/ports.js";
import { createAccessTokenSigner } from "../../src/tokens/access-token-signer.js";
import { createAccessTokenVerifier } from "../../src/tokens/access-token-verifier.js";
import {
  generatePrivateJwk,
  parseSigningKeySet,
  type SigningAlgorithm,
  type SigningKey,
} from "../../src/tokens/signing-keys.js";

const CLAIMS: AccessTokenClaims = {
  sub: "user-1",
  email: "ann@example.com",
  purpose: "login",
  sid: "session-1",
  jti: "jti-1",
  iat: 1_767_225_600,
  exp: 1_767_226_500,
  amr: ["otp"],
};

const keySet = (...algs: SigningAlgorithm[]) =>
  parseSigningKeySet({ keys: algs.map((alg, i) => generatePrivateJwk(alg, `key-${i + 1}`)) });
const signed = (key: SigningKey) =>
  createAccessTokenSigner(key, {
    issuer: "otp-auth",
    audience: "otp-auth",
    clientId: "otp-auth",
  }).sign(CLAIMS);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("the access-token verifier", () => {
  it("verifies the signer's tokens by every published key, ES256, EdDSA and RS256 alike", async () => {
    const keys = keySet("ES256", "EdDSA", "RS256");
    const verifier = createAccessTokenVerifier(keys.keys);
    for (const key of keys.keys) {
      expect(await verifier.verify(await signed(key))).toMatchObject({
        iss: "otp-auth",
        sub: "user-1",
        sid: "session-1",
        exp: CLAIMS.exp,
      });
    }
  });

  it("refuses a token of a key it does not publish, even under a published kid", async () => {
    const verifier = createAccessTokenVerifier(keySet("ES256").keys);
    // Another set whose key is also named key-1.
    expect(await verifier.verify(await signed(keySet("ES256").signing))).toBeNull();
    expect(
      await verifier.verify(await signed(keySet("EdDSA", "EdDSA").keys[1] as SigningKey)),
    ).toBeNull();
  });

  it("refuses a changed payload, and any header that is not the key's own alg and at+jwt", async () => {
    const key = keySet("ES256").signing;
    const verifier = createAccessTokenVerifier([key]);
    const [header, payload, signature] = (await signed(key)).split(".");
    const tampered = b64({
      ...JSON.parse(Buffer.from(payload ?? "", "base64url").toString()),
      sub: "x",
    });
    expect(await verifier.verify(`${header}.${tampered}.${signature}`)).toBeNull();
    // The header is signed: re-signing it with the right key but a lying header is refused too.
    for (const head of [
      { alg: "none", kid: "key-1", typ: "at+jwt" },
      { alg: "HS256", kid: "key-1", typ: "at+jwt" },
      { alg: "EdDSA", kid: "key-1", typ: "at+jwt" },
      { alg: "ES256", kid: "key-1", typ: "JWT" },
      { alg: "ES256", typ: "at+jwt" },
    ]) {
      const input = `${b64(head)}.${payload}`;
      const sig = sign("sha256", Buffer.from(input), {
        key: key.privateKey,
        dsaEncoding: "ieee-p1363",
      }).toString("base64url");
      expect(await verifier.verify(`${input}.${sig}`), JSON.stringify(head)).toBeNull();
    }
    expect(await verifier.verify(`${header}.${payload}.`)).toBeNull();
    expect(await verifier.verify(`${header}.${payload}.${signature}.`)).toBeNull();
    expect(await verifier.verify(`${header}.${payload}.AAAA`)).toBeNull();
    expect(await verifier.verify("not.a.jwt")).toBeNull();
    expect(await verifier.verify("")).toBeNull();
  });
});
