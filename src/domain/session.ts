import { createHash } from "node:crypto";
import type { AccountName } from "./account.js";
import { invalidArgument } from "./errors.js";
import type { SessionUse, StoredSession } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { AccessTokenSigner, RandomSource } from "./ports.js";
import { checkServiceId } from "./validate.js";

// What the service hands out is at least 22 URL-safe characters (128 bits); the upper bound only
// keeps junk from being hashed.
const SESSION_TOKEN_SHAPE = /^[A-Za-z0-9_-]{22,512}$/;

/** The hash a session token is stored and looked up by. Tokens carry ≥128 random bits: no key needed. */
export function hashSessionToken(token: string): Uint8Array {
  return createHash("sha256").update(token).digest();
}

/** Whether `token` has a session token's shape (which no JWT has: it holds no dots). */
export function isSessionTokenShaped(token: string): boolean {
  return SESSION_TOKEN_SHAPE.test(token);
}

/** Returns the token unchanged. Throws naming `session_token` unless it has a session token's shape. */
export function checkSessionToken(token: string): string {
  if (!isSessionTokenShaped(token)) {
    throw invalidArgument(
      "session_token",
      "session_token must be the session token a verification returned",
    );
  }
  return token;
}

/** Returns the id unchanged. Throws naming `session_id` unless it has a session id's shape. */
export function checkSessionId(sessionId: string): string {
  return checkServiceId(
    "session_id",
    sessionId,
    "session_id must be a session's id, as ListSessions or a verification answers it",
  );
}

/**
 * A session is live from its creation until it expires, is revoked, or (with SESSION_IDLE_TTL)
 * has gone unused for that long.
 */
export function isLive(session: StoredSession, now: number, policy: Policy): boolean {
  return (
    session.revokedAt === null &&
    session.expiresAt > now &&
    session.lastSeenAt > idleCutoffOf(policy, now)
  );
}

/**
 * The idle limit as a store applies it: a session last seen at or before this time is idle at
 * `now`. Without SESSION_IDLE_TTL, 0: before any session.
 */
export function idleCutoffOf(policy: Policy, now: number): number {
  return policy.sessionIdleTtlMs === null ? 0 : now - policy.sessionIdleTtlMs;
}

// last_seen_at is a minute's resolution at best: moving it on every call would make every
// session lookup a write.
const TOUCH_INTERVAL_MS = 60_000;

/**
 * A use of the session of `token` at `now`: it moves the session's last_seen_at at most once per
 * min(1 minute, SESSION_IDLE_TTL / 4), often enough that a session in use never looks idle.
 */
export function sessionUseOf(policy: Policy, token: string, now: number): SessionUse {
  const interval =
    policy.sessionIdleTtlMs === null
      ? TOUCH_INTERVAL_MS
      : Math.min(TOUCH_INTERVAL_MS, Math.floor(policy.sessionIdleTtlMs / 4));
  return {
    tokenHash: hashSessionToken(token),
    now,
    idleCutoff: idleCutoffOf(policy, now),
    touchBefore: now - interval,
  };
}

/** A signed access token and when it expires (epoch ms). */
export interface AccessToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** What signing an access token needs. */
export interface AccessTokenDeps {
  /** Signs the access tokens that verifications and session lookups answer with. */
  readonly accessTokens: AccessTokenSigner;
  /** Gives each token its `jti`. */
  readonly random: RandomSource;
  /** ACCESS_TOKEN_TTL (`accessTokenTtlMs`). */
  readonly policy: Policy;
}

/** What an access token is issued for: a session and the account it belongs to. */
export interface TokenSubject
  extends Pick<StoredSession, "sessionId" | "userId" | "purpose" | "expiresAt"> {
  readonly account: AccountName;
}

/**
 * Signs a new access token for a live session at `now`: ACCESS_TOKEN_TTL long, but never past
 * the session's end (JWT times are whole seconds, so both are rounded down). It names the account
 * as it is named: claim `email`, or claim `ext` for an external id (and then no `email`).
 */
export async function issueAccessToken(
  deps: AccessTokenDeps,
  session: TokenSubject,
  now: number,
): Promise<AccessToken> {
  const iat = Math.floor(now / 1000);
  const exp = Math.floor(Math.min(now + deps.policy.accessTokenTtlMs, session.expiresAt) / 1000);
  const token = await deps.accessTokens.sign({
    sub: session.userId,
    email: session.account.email,
    ext: session.account.externalId,
    purpose: session.purpose,
    sid: session.sessionId,
    jti: deps.random.id(),
    iat,
    exp,
    amr: ["otp"],
  });
  return { token, expiresAt: exp * 1000 };
}
