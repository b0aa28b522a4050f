import type { AccountBuckets } from "./account.js";
import type { RateLimit } from "./policy.js";

/**
 * The storage port. Each method is one atomic step: a concurrent caller sees it either not yet
 * done or done, never half done. The rules (which limit applies, when to lock, what a refusal
 * means) stay in the domain; a store only keeps state and applies these steps.
 *
 * Methods reject with an OtpError of kind `storage_unavailable` when the backend cannot be
 * reached, or with the caller's abort reason where a method takes a signal; any other rejection is
 * a bug.
 *
 * Wherever the port says `email`, it means the account's key (account.ts `accountKey`): the
 * normalised email of an account named by email, or a key no email can equal for one named by
 * external id. A store treats it as an opaque, case-sensitive string and never parses it.
 */
export interface OtpStore {
  /** The active code of (email, purpose), if any, and its lock. */
  readOtpState(email: string, purpose: string): Promise<OtpState>;

  /**
   * Makes `code` the active code of (email, purpose), replacing the previous one, and creates the
   * user record (with id `code.userId`) if there is none.
   */
  activateCode(code: NewCode): Promise<void>;

  /**
   * Marks the code `otpId` used, clears the failure count and creates `use.session` for the
   * email's user, all in one step, but only while that code is still active, unused and unexpired
   * and (email, purpose) is not locked. Of concurrent calls for one code, at most one is
   * `consumed`; no session exists without its consumed code, and no consumed code without its
   * session.
   */
  consumeCode(use: CodeUse): Promise<ConsumeOutcome>;

  /**
   * Counts one wrong code for (email, purpose); not counted while locked. The failure that reaches
   * `lockAt` locks until `lockUntil`, burns the active code and resets the count. A count whose
   * last failure's `lockUntil` has passed (the lock ended, or no further failure came within a
   * lockout) starts again from zero.
   */
  recordFailure(failure: Failure): Promise<FailureOutcome>;

  /**
   * Takes one slot of a rolling-window limit for `bucket` if fewer than `limit.count` slots were
   * taken in the last `limit.windowMs`. Concurrent calls never grant more than the limit. With
   * `unlessLocked`, takes none while that pair is locked at `now`, and says until when (checked
   * first, in the same step, so a refusal for the lock uses no quota).
   */
  takeSlot(slot: SlotRequest): Promise<SlotOutcome>;

  /** Gives back a slot taken by `takeSlot`, as if it had never been taken. */
  releaseSlot(bucket: string, slotId: string): Promise<void>;

  /**
   * Claims an idempotency key for a request. Resolves `claimed` with a holder id if the key is free
   * (the caller must later complete or release it with that id), `replay` with the stored response
   * if it completed before, or `mismatch` if it belongs to a different purpose. While another
   * request holds the key, waits for it to finish, but no longer than `claim.signal` allows: when
   * it aborts, rejects with its reason.
   */
  claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome>;

  /**
   * Stores the response of a claimed key so later claims replay it; does nothing unless `holder`
   * still holds the key (a holder whose lease lapsed and was taken over no longer does).
   */
  completeIdempotencyKey(
    email: string,
    key: string,
    holder: string,
    response: IssuedOtp,
  ): Promise<void>;

  /** Frees a key `holder` claimed and whose request failed, so that a retry can run. */
  releaseIdempotencyKey(email: string, key: string, holder: string): Promise<void>;

  /**
   * When the latest session of the email that is live at `now` (not revoked, not expired) was
   * created, or null if it has none (or is unknown).
   */
  readAuthentication(email: string, now: number): Promise<number | null>;

  /** The session whose token hashes to `tokenHash`, live or not, or null if there is none. */
  findSession(tokenHash: Uint8Array): Promise<StoredSession | null>;

  /** The session with id `sessionId`, live or not, or null if there is none (or it was purged). */
  findSessionById(sessionId: string): Promise<StoredSession | null>;

  /**
   * Marks the session whose token hashes to `tokenHash` revoked at `now`, and with `allOfUser`
   * every session of its user, but only while that session is live at `now` (a token expired or
   * revoked has no say over other sessions, whether or not a purge has forgotten it yet).
   * Sessions already revoked keep their mark. Once this resolves, no `findSession` or
   * `readAuthentication` (on any instance) sees them live.
   */
  revokeSessions(revocation: SessionRevocation): Promise<void>;

  /**
   * The user record `user` names, with the counts an operator asks for at `now`, or null when
   * there is none (never made, erased, or forgotten by a store that forgets).
   */
  findUser(user: UserRef, now: number): Promise<UserRecord | null>;

  /**
   * Marks revoked at `now` every session of the user `user` names that is live at `now`, and
   * answers how many. Serialised with `consumeCode` for the same account: a session whose
   * consumeCode took effect before this step did is among those it revokes; a consumeCode that
   * comes later creates its session after it (a new login). Once it resolves, no lookup (on any
   * instance) sees the revoked sessions live. 0 for an unknown user.
   */
  revokeUserSessions(user: UserRef, now: number): Promise<number>;

  /**
   * Erases, in one step, everything kept under the account `erasure.email`: its user record, its
   * codes and failure counts, its sessions, its idempotency records, and the limit windows
   * `erasure.buckets` names. With `erasure.userId`, only if the account's user record still has
   * that id (otherwise nothing). Serialised with `activateCode` and `consumeCode` for the same
   * account: each either finishes before the erasure (and is erased with it) or runs after it,
   * against a new user record; never a code or session without its user. Resolves true when a
   * user record was erased.
   */
  eraseUser(erasure: UserErasure): Promise<boolean>;

  /** Resolves when the backend answers; rejects (storage_unavailable) when it cannot be reached. */
  ping(): Promise<void>;

  /** Forgets everything whose retention time is at or before `now`. Returns how many records. */
  purgeExpired(now: number): Promise<number>;

  /** Releases resources; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** A user record, named by its account's key (`email`, as elsewhere on the port) or by its id. */
export type UserRef =
  | { readonly email: string; readonly userId?: undefined }
  | { readonly userId: string; readonly email?: undefined };

/** A user record as an operator sees it. */
export interface UserRecord {
  readonly userId: string;
  /** The account's key (account.ts `accountKey`). */
  readonly email: string;
  /** When the user record was made. */
  readonly createdAt: number;
  /** When the latest session was created, or null if none ever was. */
  readonly lastAuthenticatedAt: number | null;
  /** Sessions live at the `now` asked about: neither revoked nor expired. */
  readonly liveSessions: number;
}

export interface UserErasure {
  /** The account's key. */
  readonly email: string;
  /** Erase only if the account's user record has this id (the operator named the user by it). */
  readonly userId?: string | undefined;
  /** The limit windows kept under the account's name (account.ts `accountBuckets`). */
  readonly buckets: AccountBuckets;
}

/** A code as stored: only its HMAC, never the digits. */
export interface StoredCode {
  readonly otpId: string;
  readonly codeHash: Uint8Array;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly usedAt: number | null;
}

export interface OtpState {
  readonly code: StoredCode | null;
  readonly lockedUntil: number | null;
}

export interface NewCode {
  /** The id a new user record gets; ignored when the email already has one. */
  readonly userId: string;
  readonly email: string;
  readonly purpose: string;
  readonly otpId: string;
  readonly codeHash: Uint8Array;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Until when the record is kept so that late attempts hear "expired" or "used". */
  readonly retainUntil: number;
}

export interface CodeUse {
  readonly email: string;
  readonly purpose: string;
  readonly otpId: string;
  readonly now: number;
  /** Until when the authentication is kept (it means nothing afterwards). */
  readonly retainUntil: number;
  /** The session to create when the code is consumed; created at `now`. */
  readonly session: NewSession;
  /** The id a user record gets if the email has none any more (a store that forgot it). */
  readonly userId: string;
}

/** A session as created: only a hash of its token is ever stored. */
export interface NewSession {
  readonly sessionId: string;
  readonly tokenHash: Uint8Array;
  readonly expiresAt: number;
}

/** A session as stored. */
export interface StoredSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly email: string;
  readonly purpose: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
}

export interface SessionRevocation {
  readonly tokenHash: Uint8Array;
  /** Revoke every session of the token's user, not only the token's. */
  readonly allOfUser: boolean;
  readonly now: number;
}

export type ConsumeOutcome =
  /** The code is used and the session created, for the user `userId`. */
  | { readonly kind: "consumed"; readonly userId: string }
  | { readonly kind: "used" }
  | { readonly kind: "expired" }
  | { readonly kind: "replaced" }
  | { readonly kind: "locked"; readonly lockedUntil: number };

export interface Failure {
  readonly email: string;
  readonly purpose: string;
  readonly now: number;
  readonly lockAt: number;
  readonly lockUntil: number;
}

/** `failures` is the count this failure reached (0 when it was not counted because locked). */
export interface FailureOutcome {
  readonly failures: number;
  readonly lockedUntil: number | null;
}

export interface SlotRequest {
  readonly bucket: string;
  readonly slotId: string;
  readonly now: number;
  readonly limit: RateLimit;
  /** A pair whose lock refuses the slot. */
  readonly unlessLocked?: { readonly email: string; readonly purpose: string };
}

export type SlotOutcome =
  | { readonly granted: true; readonly remaining: number }
  /** The limit is reached; its oldest slot frees at `retryAt`. */
  | { readonly granted: false; readonly retryAt: number }
  /** The `unlessLocked` pair is locked until `lockedUntil`; no slot was taken. */
  | { readonly granted: false; readonly lockedUntil: number };

export interface IdempotencyClaim {
  readonly email: string;
  readonly key: string;
  readonly purpose: string;
  readonly now: number;
  readonly expiresAt: number;
  /** The caller's deadline or disconnect: waiting for another holder stops when it aborts. */
  readonly signal?: AbortSignal | undefined;
}

export type IdempotencyOutcome =
  /** `holder` proves the claim to complete or release it. */
  | { readonly kind: "claimed"; readonly holder: string }
  | { readonly kind: "replay"; readonly response: IssuedOtp }
  | { readonly kind: "mismatch" };

/** What RequestOtp answers; stored as is for idempotent replays. */
export interface IssuedOtp {
  readonly otpId: string;
  readonly expiresAt: number;
  readonly ttlMs: number;
  readonly remainingRequests: number;
  readonly codeLength: number;
}
