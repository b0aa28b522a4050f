import { requireServiceToken } from "./service-caller.js";

/**
 * Throws `caller_unauthenticated` unless `presented` is one of `serviceTokens`. AdminService's
 * gate: with no tokens configured every caller is refused, and STATUS_BY_EMAIL does not open it
 * (an open status lookup answers a yes or no; these calls read, end and erase users).
 */
export function requireOperator(
  serviceTokens: readonly string[] | undefined,
  presented: string | undefined,
): void {
  requireServiceToken(
    serviceTokens ?? [],
    presented,
    "AdminService needs a service token: send authorization: Bearer <one of SERVICE_TOKENS>",
  );
}
