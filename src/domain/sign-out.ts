import type { OtpServiceDeps } from "./otp-service.js";
import { checkSessionToken, hashSessionToken } from "./session.js";

export interface SignOutInput {
  readonly sessionToken: string;
  /** End every session of the token's user, not only this one. */
  readonly allSessions: boolean;
}

/**
 * Revokes the session of `sessionToken` (or all its user's sessions). Answers alike whether the
 * session was live, unknown, expired or already revoked; a malformed token is refused.
 */
export async function signOut(deps: OtpServiceDeps, input: SignOutInput): Promise<void> {
  const token = checkSessionToken(input.sessionToken);
  await deps.store.revokeSessions({
    tokenHash: hashSessionToken(token),
    allOfUser: input.allSessions,
    now: deps.clock.now(),
  });
  deps.events?.signedOut(input.allSessions);
}
