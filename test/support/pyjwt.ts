import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// PyJWT: a verifier outside Node for the access-token tests. npm has no copy of it; Debian's
// python3-jwt (with python3-cryptography, for ES256, EdDSA and RS256) provides it.

const VERIFIER = fileURLToPath(new URL("./pyjwt-verify.py", import.meta.url));

/**
 * The Python that runs PyJWT: PYJWT_PYTHON, else Debian's /usr/bin/python3, and PyJWT's version.
 * Throws naming the Debian packages when that Python cannot import PyJWT and cryptography.
 */
export function findPyJwt(): { python: string; version: string } {
  const python = process.env.PYJWT_PYTHON || "/usr/bin/python3";
  try {
    const out = execFileSync(python, ["-c", "import jwt, cryptography; print(jwt.__version__)"], {
      stdio: "pipe",
    });
    return { python, version: out.toString().trim() };
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").at(-1);
    throw new Error(
      `PyJWT not found (${python}: ${stderr || (error as Error).message}): apt-get install python3-jwt python3-cryptography (or set PYJWT_PYTHON to a Python that has them)`,
    );
  }
}

/** What the verifier is told to require of every token. */
export interface Expected {
  readonly issuer: string;
  readonly audience: string;
}

/**
 * Verifies each of `tokens` with PyJWT, fed only `jwks`; answers per token "ok <sub>" or
 * "rejected <PyJWT's exception class>".
 */
export function verifyWithPyJwt(
  jwks: object,
  tokens: Record<string, string>,
  { issuer, audience }: Expected,
): Record<string, string> {
  const out = execFileSync(findPyJwt().python, [VERIFIER], {
    input: JSON.stringify({ jwks, tokens, issuer, audience }),
  });
  return JSON.parse(out.toString()) as Record<string, string>;
}
