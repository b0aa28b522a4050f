import type { OtpStore } from "./otp-store.js";
import type { Clock, OtpEvents } from "./ports.js";
import { checkSessionToken, hashSessionToken } from "./session.js";

export interface SignOutInput {
  readonly sessionToken: string;
  /** End every session of the token's user, not only this one. */
  readonly allSessions: boolean;
}

/** What signing out needs. */
export interface SignOutDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Told of each SignOut carried out, if given. */
  readonly events?: OtpEvents;
}

/**
 * Revokes the session of `sessionToken` (or all its user's sessions). Answers alike whether the
 * session was live, unknown, expired or already revoked; a malformed token is refused.
 */
export async function signOut(deps: SignOutDeps, input: SignOutInput): Promise<void> {
  const token = checkSessionToken(input.sessionToken);
  await deps.store.revokeSessions({
    tokenHash: hashSessionToken(token),
    allOfUser: input.allSessions,
    now: deps.clock.now(),
  });
  deps.events?.signedOut(input.allSessions);
}
