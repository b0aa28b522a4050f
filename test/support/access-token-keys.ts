import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateJwk, type SigningAlgorithm } from "../../src/tokens/signing-keys.js";

/**
 * Writes a JWK Set of new private keys (one per entry of `algorithms`, kids `key-1`, `key-2`, …)
 * to a file of its own and returns the path, for ACCESS_TOKEN_KEYS.
 */
export function writeKeySetFile(algorithms: SigningAlgorithm[] = ["ES256"]): string {
  const keys = algorithms.map((alg, i) => generatePrivateJwk(alg, `key-${i + 1}`));
  const path = join(mkdtempSync(join(tmpdir(), "otp-auth-keys-")), "access-token-keys.json");
  writeFileSync(path, JSON.stringify({ keys }), { mode: 0o600 });
  return path;
}
