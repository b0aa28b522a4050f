import { type AuditSource, auditContextOf } from "./audit-event.js";
import { invalidArgument } from "./errors.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents } from "./ports.js";
import { checkSessionId, checkSessionToken, hashSessionToken, idleCutoffOf } from "./session.js";

/** The request's id, address and User-Agent are for the audit trail. */
export interface SignOutInput extends AuditSource {
  readonly sessionToken: string;
  /** End every session of the token's user, not only this one. */
  readonly allSessions: boolean;
  /** End this session of the token's user instead of the token's own (empty is absent). */
  readonly sessionId?: string | undefined;
}

/** What signing out needs. */
export interface SignOutDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** SESSION_IDLE_TTL (`sessionIdleTtlMs`): an idle token ends no other session. */
  readonly policy: Policy;
  /** Told of each SignOut carried out, if given. */
  readonly events?: OtpEvents;
}

/**
 * Revokes the session of `sessionToken`, all its user's sessions, or (`sessionId`) another
 * session of the same user, the last two only while the token's session is live. Answers alike
 * whether anything ended or not: the session was live, unknown, expired or already revoked, the
 * session id another user's or unknown. A malformed token or session id, or a session id with
 * `allSessions`, is refused.
 */
export async function signOut(deps: SignOutDeps, input: SignOutInput): Promise<void> {
  const token = checkSessionToken(input.sessionToken);
  const sessionId = input.sessionId ?? "";
  if (sessionId !== "") {
    checkSessionId(sessionId);
    if (input.allSessions) {
      throw invalidArgument(
        "session_id",
        "send either session_id (end that session) or all_sessions (end every session), not both",
      );
    }
  }
  const now = deps.clock.now();
  const revoked = await deps.store.revokeSessions({
    tokenHash: hashSessionToken(token),
    allOfUser: input.allSessions,
    sessionId: sessionId === "" ? undefined : sessionId,
    now,
    idleCutoff: idleCutoffOf(deps.policy, now),
    audit: auditContextOf(input, now, deps.policy.auditRetentionMs),
  });
  deps.events?.audited?.("session.revoked", revoked);
  deps.events?.signedOut(
    sessionId !== "" ? "other_session" : input.allSessions ? "all_sessions" : "session",
  );
}
