import { createHash, timingSafeEqual } from "node:crypto";
import { OtpError } from "./errors.js";

/**
 * Throws `caller_unauthenticated` unless `presented` is one of `serviceTokens`; an empty list
 * lets every caller in (development). Compared as SHA-256 digests in constant time, against every
 * token, so neither the length nor the position of a match shows in the timing.
 */
export function checkServiceCaller(
  serviceTokens: readonly string[],
  presented: string | undefined,
): void {
  if (serviceTokens.length === 0) {
    return;
  }
  const candidate = digest(presented ?? "");
  let matched = false;
  for (const token of serviceTokens) {
    matched = timingSafeEqual(candidate, digest(token)) || matched;
  }
  if (presented === undefined || !matched) {
    throw new OtpError(
      { kind: "caller_unauthenticated" },
      "looking up an account by email or external_id needs a service token: send authorization: Bearer <token>",
    );
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest();
