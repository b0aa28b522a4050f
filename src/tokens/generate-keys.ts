// Prints a new JWK Set of one private signing key, for ACCESS_TOKEN_KEYS:
//   npm run keys:generate > access-token-keys.json            (ES256)
//   npm run keys:generate -- EdDSA > access-token-keys.json   (Ed25519)
//   npm run keys:generate -- RS256 > access-token-keys.json   (RSA, 3072 bits)
// The kid is the date and a random suffix, so keys of a rotation are told apart at a glance.
import { randomBytes } from "node:crypto";
import { generatePrivateJwk } from "./signing-keys.js";

const alg = process.argv[2] ?? "ES256";
if (alg !== "ES256" && alg !== "EdDSA" && alg !== "RS256") {
  process.stderr.write(`usage: npm run keys:generate -- [ES256|EdDSA|RS256] (got ${alg})\n`);
  process.exit(2);
}
const kid = `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString("hex")}`;
process.stdout.write(`${JSON.stringify({ keys: [generatePrivateJwk(alg, kid)] }, null, 2)}\n`);
