import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  generatePrivateJwk,
  KeySetError,
  parseSigningKeySet,
} from "../../src/tokens/signing-keys.js";

const es256 = generatePrivateJwk("ES256", "es");
const ed25519 = generatePrivateJwk("EdDSA", "ed");

/** The KeySetError message for `document`; fails if it parses. */
function problemWith(document: unknown): string {
  try {
    parseSigningKeySet(document);
  } catch (error) {
    if (error instanceof KeySetError) {
      return error.message;
    }
    throw error;
  }
  throw new Error("expected a KeySetError");
}

/** Every secret or key value of a JWK: none may show in a message. */
const material = (jwk: object) =>
  Object.entries(jwk)
    .filter(([name]) => ["d", "x", "y"].includes(name))
    .map(([, value]) => String(value));

describe("access token signing keys", () => {
  it("takes EC P-256 and Ed25519 private keys; the first signs, all are published", () => {
    const set = parseSigningKeySet({ keys: [ed25519, es256] });
    expect(set.signing).toMatchObject({ kid: "ed", alg: "EdDSA" });
    expect(set.keys.map((k) => [k.kid, k.alg])).toEqual([
      ["ed", "EdDSA"],
      ["es", "ES256"],
    ]);
    expect(set.publicJwks).toEqual({
      keys: [
        { kty: "OKP", crv: "Ed25519", x: ed25519.x, kid: "ed", alg: "EdDSA", use: "sig" },
        { kty: "EC", crv: "P-256", x: es256.x, y: es256.y, kid: "es", alg: "ES256", use: "sig" },
      ],
    });
    expect(JSON.stringify(set.publicJwks)).not.toContain(String(es256.d));
    expect(JSON.stringify(set.publicJwks)).not.toContain(String(ed25519.d));
  });

  it("takes an RSA key of 2048 bits or more for RS256 and publishes only n and e", () => {
    const rsa = generatePrivateJwk("RS256", "rsa");
    const set = parseSigningKeySet({ keys: [rsa, es256] });
    expect(set.signing).toMatchObject({ kid: "rsa", alg: "RS256" });
    expect(set.publicJwks.keys[0]).toEqual({
      kty: "RSA",
      n: rsa.n,
      e: rsa.e,
      kid: "rsa",
      alg: "RS256",
      use: "sig",
    });
    for (const secret of ["d", "p", "q", "dp", "dq", "qi"] as const) {
      expect(JSON.stringify(set.publicJwks)).not.toContain(String(rsa[secret]));
    }
  });

  it.each([
    ["no key set", { keys: [] }, /at least one private key/],
    ["no keys member", [es256], /expected a JWK Set/],
    ["a key without kid", { keys: [{ ...es256, kid: undefined }] }, /key 1 has no "kid"/],
    [
      "a repeated kid",
      { keys: [es256, { ...ed25519, kid: "es" }] },
      /key 2 \(kid "es"\) repeats a kid/,
    ],
    ["a public key", { keys: [{ ...es256, d: undefined }] }, /is a public key/],
    [
      "an RSA key under 2048 bits",
      {
        keys: [
          {
            ...generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
              format: "jwk",
            }),
            kid: "rsa",
          },
        ],
      },
      /is an RSA key of 1024 bits; RS256 needs 2048 or more/,
    ],
    [
      "a P-384 key",
      {
        keys: [
          {
            ...generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({
              format: "jwk",
            }),
            kid: "p384",
          },
        ],
      },
      /crv P-384/,
    ],
    [
      "a mismatched alg",
      { keys: [{ ...es256, alg: "EdDSA" }] },
      /says alg EdDSA, but EC P-256 keys sign ES256/,
    ],
    ["an encryption key", { keys: [{ ...es256, use: "enc" }] }, /use enc/],
    ["a broken key", { keys: [{ ...es256, d: "AAAA" }] }, /is not a valid EC P-256 private key/],
  ])("refuses %s, naming the problem and no key material", (_, document, problem) => {
    const message = problemWith(document);
    expect(message).toMatch(problem);
    for (const value of [...material(es256), ...material(ed25519)]) {
      expect(message).not.toContain(value);
    }
  });
});
