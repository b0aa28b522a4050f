import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents } from "./ports.js";
import { checkSessionToken, isLive, sessionUseOf } from "./session.js";

export interface ListSessionsInput {
  readonly sessionToken: string;
}

/** What listing a user's sessions needs. */
export interface ListSessionsDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** SESSION_IDLE_TTL (`sessionIdleTtlMs`): what is live, and how often a use marks it seen. */
  readonly policy: Policy;
  /** Told of each list, as a session lookup, if given. */
  readonly events?: OtpEvents;
}

/** One of the user's live sessions, as its owner sees it. */
export interface SessionSummary {
  readonly sessionId: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  readonly purpose: string;
  /** The masked network it was verified from (session-device.ts); empty when unknown. */
  readonly clientAddress: string;
  readonly userAgent: string;
  /** The session the list was asked with. */
  readonly current: boolean;
}

/**
 * The live sessions of the token's user, newest first, the token's own marked current; using
 * the token marks its session seen (when due). An unknown, expired, idle or revoked token answers
 * an empty list, as a user with no other session would look (no oracle); a malformed one is
 * refused (field `session_token`).
 */
export async function listSessions(
  deps: ListSessionsDeps,
  input: ListSessionsInput,
): Promise<SessionSummary[]> {
  const token = checkSessionToken(input.sessionToken);
  const now = deps.clock.now();
  const listed = await deps.store.listSessions(sessionUseOf(deps.policy, token, now));
  // The store already keeps to live sessions; the rule is this one, should a store lag behind.
  const live = listed.filter((session) => isLive(session, now, deps.policy));
  const asked = live.some((session) => session.current);
  deps.events?.sessionLookedUp(asked);
  if (!asked) {
    return [];
  }
  return live.map((session) => ({
    sessionId: session.sessionId,
    createdAt: session.createdAt,
    lastSeenAt: session.lastSeenAt,
    expiresAt: session.expiresAt,
    purpose: session.purpose,
    clientAddress: session.clientAddress,
    userAgent: session.userAgent,
    current: session.current,
  }));
}
