import type { AccountBuckets } from "./account.js";
import type { AuditContext, AuditEventType } from "./audit-event.js";
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
  /**
   * What verifying a code of (email, purpose) is judged on: with `otpId`, that code if it is one of
   * the pair's; without, the pair's latest code unless unbound failures burned it. Also the pair's
   * unbound lock and the account's failures within the window.
   */
  readOtpState(lookup: CodeLookup): Promise<OtpState>;

  /**
   * Adds `code` to the live codes of (email, purpose): it becomes the latest, the ones before it
   * stay verifiable by their otp_id. Creates the user record (with id `code.userId`) if there is
   * none.
   */
  activateCode(code: NewCode): Promise<void>;

  /**
   * Marks the code `otpId` used and creates `use.session` for the email's user, in one step, but
   * only while the account's failure cap (`use.gate`) does not refuse this attempt and the code is
   * unused, unexpired and not dead (fewer than `gate.maxAttempts` failures); unbound, also only
   * while the code is still the pair's latest, not burned, and the pair not locked, and then the
   * pair's unbound failures are cleared. With `use.keyed` (a verification that has read nothing),
   * the code named (bound) or the pair's latest (unbound, `use.otpId` null) is used only while its
   * keyed hash is the one the key makes of its otp id; when it has a keyed hash the key does not
   * make, the attempt is instead counted in the same step, exactly as recordFailure counts a
   * wrong code compared with it (`keyed.lockUntil` its lockUntil), and answered `mismatch` if
   * counted; a code without one (written by an older version) is refused. So no attempt is
   * compared without being counted, races included. Of concurrent calls for one code, at most one is
   * `consumed`; no session exists without its consumed code, and no consumed code without its
   * session. `refused` says nothing about why: the caller reads the state again.
   */
  consumeCode(use: CodeUse): Promise<ConsumeOutcome>;

  /**
   * Counts one wrong code, in one step, only while the code `otpId` it was compared with is still
   * unused, unexpired and not dead, and the account's failure cap does not refuse this attempt:
   * bound, against that code; unbound, also only while that code is still the pair's latest, not
   * burned, and the pair not locked, against the pair's unbound count (the failure that reaches
   * `gate.maxAttempts` locks until `lockUntil`, burns the code for unbound verification and resets
   * the count; a count whose last failure's `lockUntil` has passed starts again from zero). A
   * counted failure is also added to the account's failures with its network. So a failure is
   * counted exactly when some order of the racing steps would have judged it wrong.
   */
  recordFailure(failure: Failure): Promise<FailureOutcome>;

  /**
   * Takes the slot `slotId` in every bucket of `request.limits`, all or none, in one step: only if
   * each bucket has fewer than its limit's count of slots taken within its window, and each share
   * fewer than its own of the slots taken under its tag. Concurrent calls never grant more than
   * any limit. Refused, says which limit refused first (in the order given, a share before its
   * bucket) and when its oldest slot frees.
   */
  takeSlots(request: SlotsRequest): Promise<SlotsOutcome>;

  /**
   * Gives back the slot `slotId` of each of `limits`' buckets and shares, as if it had never been
   * taken.
   */
  releaseSlots(limits: readonly SlotLimit[], slotId: string): Promise<void>;

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
   * When the latest session of the email that is live at `now` (not revoked, not expired, last
   * seen after `idleCutoff`, when given) was created, or null if it has none (or is unknown).
   */
  readAuthentication(email: string, now: number, idleCutoff?: number): Promise<number | null>;

  /** The session whose token hashes to `tokenHash`, live or not, or null if there is none. */
  findSession(tokenHash: Uint8Array): Promise<StoredSession | null>;

  /**
   * The session whose token hashes to `use.tokenHash`, live or not (null if there is none), as
   * `findSession` answers it, and in the same step, if it is live at `use.now` and was last seen
   * at or before `use.touchBefore`, marks it seen at `use.now` (answered so, with `touched`). Of
   * concurrent uses of one session, at most one moves its mark past a given `touchBefore`.
   */
  useSession(use: SessionUse): Promise<SessionSighting | null>;

  /**
   * Uses the session of `use.tokenHash` as `useSession` does and, if it is live, answers every
   * session of its user that is live at `use.now`, newest first (created later first; equal
   * times by session id, descending), that one marked `current`. Empty when the token's session
   * is not live (or unknown).
   */
  listSessions(use: SessionUse): Promise<ListedSession[]>;

  /** The session with id `sessionId`, live or not, or null if there is none (or it was purged). */
  findSessionById(sessionId: string): Promise<StoredSession | null>;

  /**
   * Marks the session whose token hashes to `tokenHash` revoked at `now`, and with `allOfUser`
   * every session of its user, but only while that session is live at `now` (a token expired,
   * idle or revoked has no say over other sessions, whether or not a purge has forgotten it yet).
   * With `sessionId`, marks only that session of the same user instead, again only while the
   * token's session is live; a session id of another user (or none) marks nothing.
   * Sessions already revoked keep their mark; answers how many it marked. Once this resolves, no `findSession`,
   * `useSession`, `listSessions` or `readAuthentication` (on any instance) sees them live.
   */
  revokeSessions(revocation: SessionRevocation): Promise<number>;

  /**
   * The user record `user` names, with the counts an operator asks for at `now` (a session last
   * seen at or before `idleCutoff`, when given, is not live), or null when there is none (never
   * made, erased, or forgotten by a store that forgets).
   */
  findUser(user: UserRef, now: number, idleCutoff?: number): Promise<UserRecord | null>;

  /**
   * Marks revoked at `now` every session of the user `user` names that is live at `now` (not last
   * seen at or before `idleCutoff`, when given), and answers how many. Serialised with `consumeCode` for the same account: a session whose
   * consumeCode took effect before this step did is among those it revokes; a consumeCode that
   * comes later creates its session after it (a new login). Once it resolves, no lookup (on any
   * instance) sees the revoked sessions live. 0 for an unknown user. Writes, in the same step, one
   * `session.revoked` (reason `admin`) per session it ends.
   */
  revokeUserSessions(
    user: UserRef,
    now: number,
    idleCutoff?: number,
    audit?: AuditContext,
  ): Promise<number>;

  /**
   * Erases, in one step, everything kept under the account `erasure.email`: its user record, its
   * codes and failure counts, its sessions, its idempotency records, and the limit windows
   * `erasure.buckets` names. With `erasure.userId`, only if the account's user record still has
   * that id (otherwise nothing). Serialised with `activateCode` and `consumeCode` for the same
   * account: each either finishes before the erasure (and is erased with it) or runs after it,
   * against a new user record; never a code or session without its user. Resolves true when a
   * user record was erased. In the same step, the account's audit events lose their account key,
   * client address and user agent (user id, type, times and the rest stay), each session live at
   * `erasure.now` gets a `session.revoked` (reason `user_deleted`), and `user.deleted` is written.
   */
  eraseUser(erasure: UserErasure): Promise<boolean>;

  /**
   * Writes `otp.delivery_failed` for the account `failure.email` (with its user id when it has a
   * user record, else an empty one). The failed delivery changed nothing else: a step of its own.
   */
  recordDeliveryFailure(failure: DeliveryFailure): Promise<void>;

  /**
   * The audit events of the user `query.user` names (by account key: the events still carrying
   * it; by user id: every event of that id, erased or not), at or after `query.since`, after
   * `query.after` in their order, oldest first (by `at`, then by `seq`), at most `query.limit`.
   */
  listAuditEvents(query: AuditQuery): Promise<StoredAuditEvent[]>;

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
  /** When the erasure happens: the time of its audit events. */
  readonly now: number;
  readonly audit?: AuditContext | undefined;
}

/** A delivery that failed: the code was never activated. */
export interface DeliveryFailure {
  readonly email: string;
  readonly purpose: string;
  readonly now: number;
  readonly audit?: AuditContext | undefined;
}

/** Which audit events `listAuditEvents` answers. */
export interface AuditQuery {
  readonly user: UserRef;
  /** Events at or after this time (inclusive); 0 for all. */
  readonly since: number;
  /** Only events after this one in the order (its `at` and `seq`); null from the start. */
  readonly after: { readonly at: number; readonly seq: number } | null;
  readonly limit: number;
}

/**
 * An audit event as stored. Its account key is not answered (erasure removes it). Text fields a
 * step has nothing for are empty.
 */
export interface StoredAuditEvent {
  /** The store's order of writing: unique, increasing; the event's id is made from it. */
  readonly seq: number;
  readonly type: AuditEventType;
  readonly at: number;
  readonly userId: string;
  readonly purpose: string;
  readonly sessionId: string;
  readonly clientAddress: string;
  readonly userAgent: string;
  readonly requestId: string;
  readonly reason: string;
}

/** A code as stored: only its HMAC, never the digits. */
export interface StoredCode {
  readonly otpId: string;
  readonly codeHash: Uint8Array;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly usedAt: number | null;
  /** Wrong codes sent with this code's otp_id. */
  readonly failures: number;
}

export interface CodeLookup {
  readonly email: string;
  readonly purpose: string;
  /** The code a bound verification names; null for unbound verification (the latest code). */
  readonly otpId: string | null;
  readonly now: number;
  /** The account's failures after `now - failureWindowMs` are read. */
  readonly failureWindowMs: number;
}

/** A wrong code counted against an account: when, and from which network (ip-bucket.ts). */
export interface AccountFailure {
  readonly at: number;
  readonly network: string;
}

export interface OtpState {
  readonly code: StoredCode | null;
  /** Until when unbound verification of the pair is locked, if it was. */
  readonly lockedUntil: number | null;
  /** The account's failures within the window, oldest first. */
  readonly failures: readonly AccountFailure[];
}

/**
 * The account's failure cap, as a step that judges an attempt applies it: refused while the
 * account has `maxFailures` or more failures after `now - windowMs` and the attempt is unbound or
 * comes from a `network` among theirs. `maxAttempts` is also the failures a code takes before it
 * is dead.
 */
export interface AccountGate {
  readonly network: string;
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly maxAttempts: number;
}

export interface NewCode {
  /** The id a new user record gets; ignored when the email already has one. */
  readonly userId: string;
  readonly email: string;
  readonly purpose: string;
  readonly otpId: string;
  readonly codeHash: Uint8Array;
  /** keyedCodeHash of the code's key and otp id (otp-code.ts): what a keyed consumeCode compares. */
  readonly keyedHash: Uint8Array;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Until when the record is kept so that late attempts hear "expired" or "used". */
  readonly retainUntil: number;
  /** The request: `otp.requested` is written with the code, in the same step. */
  readonly audit?: AuditContext | undefined;
}

export interface CodeUse {
  readonly email: string;
  readonly purpose: string;
  /** The code to use; null (unbound, with `keyed` only) for the pair's latest. */
  readonly otpId: string | null;
  /** Whether the verification named the otp_id (else it was judged as the latest code). */
  readonly bound: boolean;
  readonly gate: AccountGate;
  readonly now: number;
  /** Until when the authentication is kept (it means nothing afterwards). */
  readonly retainUntil: number;
  /** The session to create when the code is consumed; created at `now`. */
  readonly session: NewSession;
  /** The id a user record gets if the email has none any more (a store that forgot it). */
  readonly userId: string;
  /** The request: `session.created` is written with the session, in the same step. */
  readonly audit?: AuditContext | undefined;
  /** A code the store compares and judges itself (see consumeCode). */
  readonly keyed?: KeyedAttempt | undefined;
}

/**
 * What a verification that has read nothing hands consumeCode: the key its digits make. The store
 * compares keyedCodeHash(codeKey, the code's otp id) with the code's keyed hash in constant time,
 * or by comparing digests of both, whose timing says nothing of either.
 */
export interface KeyedAttempt {
  /** codeKeyOf the digits sent (otp-code.ts). */
  readonly codeKey: Uint8Array;
  /** Unbound: until when the failure that reaches the attempt limit locks the pair. */
  readonly lockUntil: number;
}

/** A session as created: only a hash of its token is ever stored. */
export interface NewSession {
  readonly sessionId: string;
  readonly tokenHash: Uint8Array;
  readonly expiresAt: number;
  /** The client's network, already masked (session-device.ts); empty when unknown. */
  readonly clientAddress: string;
  /** The client's User-Agent, already cut to its limit; empty when none. */
  readonly userAgent: string;
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
  /** When it was last used (`createdAt` at first); moved by `useSession` and `listSessions`. */
  readonly lastSeenAt: number;
  readonly clientAddress: string;
  readonly userAgent: string;
}

/**
 * One use of a session by its token at `now`. A session last seen at or before `idleCutoff` is
 * idle, not live (no idle limit: a time before any session, such as 0); a live one last seen at
 * or before `touchBefore` is marked seen at `now`.
 */
export interface SessionUse {
  readonly tokenHash: Uint8Array;
  readonly now: number;
  readonly idleCutoff: number;
  readonly touchBefore: number;
}

/** A session as a use found it; `touched` when this use moved its `lastSeenAt` to now. */
export interface SessionSighting {
  readonly session: StoredSession;
  readonly touched: boolean;
}

/** A live session of a user, as listed to one of its sessions. */
export interface ListedSession extends StoredSession {
  /** The session of the token the list was asked with. */
  readonly current: boolean;
}

export interface SessionRevocation {
  readonly tokenHash: Uint8Array;
  /** Revoke every session of the token's user, not only the token's. */
  readonly allOfUser: boolean;
  /** Revoke this session of the token's user instead of the token's own. Not with `allOfUser`. */
  readonly sessionId?: string | undefined;
  readonly now: number;
  /** The token's session last seen at or before this is idle: it has no say over others. */
  readonly idleCutoff?: number | undefined;
  /**
   * The request: each session marked writes `session.revoked` in the same step, with reason
   * `sign_out` (the token's own), `other_device` (`sessionId`) or `sign_out_all` (`allOfUser`).
   */
  readonly audit?: AuditContext | undefined;
}

export type ConsumeOutcome =
  /** The code is used and the session created, for the user `userId`. */
  | { readonly kind: "consumed"; readonly userId: string }
  /**
   * Keyed only: the code was not the one sent, and the attempt was counted against it (`failure`)
   * and the account; `expiresAt` is that code's expiry.
   */
  | { readonly kind: "mismatch"; readonly failure: CountedFailure; readonly expiresAt: number }
  /** Nothing changed: the state moved since it was read (read it again to say why). */
  | { readonly kind: "refused" };

export interface Failure {
  readonly email: string;
  readonly purpose: string;
  /** The code the wrong code was compared with. */
  readonly otpId: string;
  /** Whether the verification named it (else it was judged as the pair's latest code). */
  readonly bound: boolean;
  readonly gate: AccountGate;
  readonly now: number;
  /** Unbound: until when the failure that reaches `gate.maxAttempts` locks the pair. */
  readonly lockUntil: number;
  /**
   * The request: a counted failure writes `otp.verify_failed` (reason `mismatch`) in the same
   * step, and one that locks also `otp.locked` with the lock's scope as its reason (audit-event.ts
   * `lockScopeOfFailure`).
   */
  readonly audit?: AuditContext | undefined;
}

export type FailureOutcome =
  /**
   * Counted: `failures` is the count it reached (the code's when bound, the pair's unbound count
   * otherwise; the failure that locks the pair reports `lockedUntil`), and
   * `accountFailures` the account's failures within the window, this one included.
   */
  | {
      readonly counted: true;
      readonly failures: number;
      readonly lockedUntil: number | null;
      readonly accountFailures: readonly AccountFailure[];
    }
  /** Not counted: the state moved since it was read (read it again to say why). */
  | { readonly counted: false };

export type CountedFailure = Extract<FailureOutcome, { readonly counted: true }>;

export interface SlotsRequest {
  readonly slotId: string;
  readonly now: number;
  /** Each bucket with the rolling-window limits it is held to; no bucket twice. */
  readonly limits: readonly SlotLimit[];
}

/** A bucket and the rolling-window limit it is held to. */
export interface SlotLimit {
  readonly bucket: string;
  readonly limit: RateLimit;
  /**
   * A limit within the bucket: of its slots, those taken under `tag` (the account's requesting
   * network) are held to `limit` too. A store keeps a share in its bucket's row, or as a bucket of
   * its own named by shareBucket, which an account's erasure finds by its bucket's prefix.
   */
  readonly share?: { readonly tag: string; readonly limit: RateLimit } | undefined;
}

/** The name of a share kept as a bucket of its own: its bucket's, a space and its tag. */
export const shareBucket = (bucket: string, tag: string): string => `${bucket} ${tag}`;

export type SlotsOutcome =
  /**
   * Taken in every bucket; `remaining[i]` is what `limits[i]` has left after it (with a share,
   * the lesser of the share's and the bucket's).
   */
  | { readonly granted: true; readonly remaining: readonly number[] }
  /**
   * None taken: `limits[refused]` is reached (its share, when `share` is true), and its oldest
   * slot frees at `retryAt`.
   */
  | {
      readonly granted: false;
      readonly refused: number;
      readonly share?: true;
      readonly retryAt: number;
    };

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
