import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";

/**
 * The JWS algorithms access tokens are signed with: ES256 (EC P-256), EdDSA (Ed25519) and RS256
 * (RSA of 2048 bits or more, which RFC 9068 requires every verifier to support).
 */
export type SigningAlgorithm = "ES256" | "EdDSA" | "RS256";

/** One private key of the set, ready to sign. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
}

/** A public JWK as published: public members, `kid`, `alg` and `use: sig` only. */
export interface PublicJwk {
  readonly kty: string;
  /** EC and OKP keys. */
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  /** RSA keys: modulus and exponent. */
  readonly n?: string;
  readonly e?: string;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: "sig";
}

/** The keys access tokens are signed and verified with: the first signs, all are published. */
export interface SigningKeySet {
  readonly signing: SigningKey;
  readonly keys: readonly SigningKey[];
  /** The JWKS document: `{"keys": [...]}` with the public part of every key, in order. */
  readonly publicJwks: { readonly keys: readonly PublicJwk[] };
}

/** A key set that cannot be used; the message names the problem and never holds key material. */
export class KeySetError extends Error {
  override readonly name = "KeySetError";
}

const ALGORITHM_OF: Record<string, SigningAlgorithm> = {
  "EC P-256": "ES256",
  "OKP Ed25519": "EdDSA",
  RSA: "RS256",
};
/** RSA keys shorter than this are refused (RFC 7518 §3.3 asks for 2048 bits or more). */
const MIN_RSA_BITS = 2048;

/** The digest each algorithm signs with (EdDSA hashes inside the signature). */
export function digestOf(alg: SigningAlgorithm): "sha256" | null {
  return alg === "EdDSA" ? null : "sha256";
}

/**
 * Reads a JWK Set of private keys (`{"keys":[…]}`, parsed JSON): each an EC P-256, OKP Ed25519 or
 * RSA (2048 bits or more) key with a `kid` that no other key has, and, if it says so, `alg`
 * ES256/EdDSA/RS256 and `use` sig.
 * Throws a KeySetError naming the first problem (by the key's position or `kid`).
 */
export function parseSigningKeySet(document: unknown): SigningKeySet {
  const entries = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new KeySetError('expected a JWK Set, {"keys":[…]}, holding at least one private key');
  }
  const seen = new Set<string>();
  const keys = entries.map((entry: unknown, index) => {
    const jwk = (typeof entry === "object" && entry !== null ? entry : {}) as Record<
      string,
      unknown
    >;
    const position = `key ${index + 1}`;
    if (typeof jwk.kid !== "string" || jwk.kid === "") {
      throw new KeySetError(`${position} has no "kid"; every key needs one, unique in the set`);
    }
    const kid = jwk.kid;
    const name = `${position} (kid ${JSON.stringify(kid)})`;
    if (seen.has(kid)) {
      throw new KeySetError(`${name} repeats a kid; each key needs its own`);
    }
    seen.add(kid);
    const alg = ALGORITHM_OF[kindOf(jwk)];
    if (alg === undefined) {
      throw new KeySetError(
        `${name} is not an EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA (RS256) key (kty ${String(jwk.kty)}, crv ${String(jwk.crv)})`,
      );
    }
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      throw new KeySetError(
        `${name} says alg ${String(jwk.alg)}, but ${kindOf(jwk)} keys sign ${alg}`,
      );
    }
    if (jwk.use !== undefined && jwk.use !== "sig") {
      throw new KeySetError(`${name} says use ${String(jwk.use)}; signing keys have use sig`);
    }
    if (typeof jwk.d !== "string") {
      throw new KeySetError(`${name} is a public key; the set must hold private keys (with "d")`);
    }
    let privateKey: KeyObject;
    let publicKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: "jwk" });
      const { kty, crv, x, y, n, e } = jwk;
      const publicMembers = kty === "RSA" ? { kty, n, e } : { kty, crv, x, y };
      publicKey = createPublicKey({ key: publicMembers as JsonWebKey, format: "jwk" });
    } catch {
      // Node's message is not repeated: it is about the key's content.
      throw new KeySetError(`${name} is not a valid ${kindOf(jwk)} private key`);
    }
    const bits = privateKey.asymmetricKeyDetails?.modulusLength;
    if (alg === "RS256" && (bits === undefined || bits < MIN_RSA_BITS)) {
      throw new KeySetError(
        `${name} is an RSA key of ${bits ?? "unknown"} bits; RS256 needs ${MIN_RSA_BITS} or more`,
      );
    }
    // Node takes the public members as given, so a wrong `x`/`y` (or `n`/`e`) would publish a key
    // that verifies none of the tokens: sign a probe and check it against them.
    const hash = digestOf(alg);
    const probe = Buffer.from("otp-auth key check");
    if (!verify(hash, probe, publicKey, sign(hash, probe, privateKey))) {
      throw new KeySetError(
        `${name} is not a valid ${kindOf(jwk)} private key (its private part does not match its public part)`,
      );
    }
    return { kid, alg, privateKey };
  });
  return {
    signing: keys[0] as SigningKey,
    keys,
    publicJwks: { keys: keys.map(publicJwkOf) },
  };
}

/** `EC P-256`, `OKP Ed25519`, `RSA`: what a JWK says it is, for messages. */
function kindOf(jwk: Record<string, unknown>): string {
  return jwk.kty === "RSA" ? "RSA" : `${String(jwk.kty)} ${String(jwk.crv)}`;
}

function publicJwkOf(key: SigningKey): PublicJwk {
  const { kty, crv, x, y, n, e } = createPublicKey(key.privateKey).export({ format: "jwk" });
  const members =
    kty === "RSA"
      ? { kty, n: n as string, e: e as string }
      : {
          kty: kty as string,
          crv: crv as string,
          x: x as string,
          ...(y === undefined ? {} : { y }),
        };
  return { ...members, kty: kty as string, kid: key.kid, alg: key.alg, use: "sig" };
}

/** A new private key as a JWK (with `kid`, `alg` and `use`), from Node's CSPRNG. */
export function generatePrivateJwk(alg: SigningAlgorithm, kid: string): JsonWebKey {
  const { privateKey } =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "RS256"
        ? generateKeyPairSync("rsa", { modulusLength: 3072 })
        : generateKeyPairSync("ed25519");
  return { ...privateKey.export({ format: "jwk" }), kid, alg, use: "sig" };
}

/** A set of one fresh ES256 key, for a process whose tokens no other instance must verify. */
export function ephemeralKeySet(): SigningKeySet {
  const kid = `ephemeral-${randomBytes(6).toString("base64url")}`;
  return parseSigningKeySet({ keys: [generatePrivateJwk("ES256", kid)] });
}
