import { createHash, timingSafeEqual } from "node:crypto";
import { OtpError } from "./errors.js";
import type { StatusByEmail } from "./policy.js";

/**
 * Who may ask for an email's status. Throws `caller_unauthenticated` unless `presented` is one
 * of `serviceTokens`; with no tokens configured, every caller is refused alike unless
 * `statusByEmail` is `open` (then everyone is answered). Configured tokens always gate, whatever
 * `statusByEmail` says (configuration refuses that combination).
 * Compared as SHA-256 digests in constant time, against every token, so neither the length nor
 * the position of a match shows in the timing.
 */
export function checkServiceCaller(
  serviceTokens: readonly string[],
  statusByEmail: StatusByEmail,
  presented: string | undefined,
): void {
  if (serviceTokens.length === 0 && statusByEmail === "open") {
    return;
  }
  requireServiceToken(
    serviceTokens,
    presented,
    "looking up an account by email or external_id needs a service token: send authorization: Bearer <token>",
  );
}

/**
 * Throws `caller_unauthenticated` (with `message`) unless `presented` is one of `serviceTokens`;
 * with none configured, every caller is refused. Nothing opens it: for questions only a trusted
 * service may ever ask (token introspection).
 */
export function requireServiceToken(
  serviceTokens: readonly string[],
  presented: string | undefined,
  message: string,
): void {
  const candidate = digest(presented ?? "");
  let matched = false;
  for (const token of serviceTokens) {
    matched = timingSafeEqual(candidate, digest(token)) || matched;
  }
  if (presented === undefined || !matched) {
    // The same answer whether or not tokens are configured: a caller learns nothing of the setup.
    throw new OtpError({ kind: "caller_unauthenticated" }, message);
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest();
