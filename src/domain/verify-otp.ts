import { accountKey, readAccount } from "./account.js";
import { auditContextOf, lockScopeOfFailure } from "./audit-event.js";
import { invalidArgument, lockedError, OtpError } from "./errors.js";
import { capRefusal } from "./failure-cap.js";
import { networkOf } from "./ip-bucket.js";
import { codeKeyOf, hashCode, hashesEqual } from "./otp-code.js";
import type {
  AccountGate,
  ConsumeOutcome,
  CountedFailure,
  KeyedAttempt,
  OtpStore,
} from "./otp-store.js";
import type { Clock, OtpEvents } from "./ports.js";
import {
  type AccessToken,
  type AccessTokenDeps,
  hashSessionToken,
  issueAccessToken,
} from "./session.js";
import { clientNetworkOf, userAgentOf } from "./session-device.js";
import { normalizeOtp, normalizeOtpId, normalizePurpose } from "./validate.js";

/** What checking a code needs, besides signing the access token of the session it starts. */
export interface VerifyOtpDeps extends AccessTokenDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Key for the HMAC that codes are stored as. */
  readonly hmacKey: Uint8Array;
  /** Told of codes verified, failed and locked, if given. */
  readonly events?: OtpEvents;
}

export interface VerifyOtpInput {
  /** The account, named by exactly one of `email` and `externalId` (empty is absent). */
  readonly email?: string | undefined;
  readonly externalId?: string | undefined;
  readonly otp: string;
  readonly purpose: string;
  /** The otp_id of the code (bound verification); empty or absent for the latest code. */
  readonly otpId?: string | undefined;
  /**
   * The client's address as the transport determined it: its network is what the failure cap
   * sees, and the new session keeps it masked.
   */
  readonly clientIp?: string | undefined;
  /** The client's User-Agent: the new session keeps it, cut to 256 code points. */
  readonly userAgent?: string | undefined;
  /** The call's request id, for the audit trail. */
  readonly requestId?: string | undefined;
  /** Aborts when the caller gives up (deadline, disconnect): the check stops before its next step. */
  readonly signal?: AbortSignal | undefined;
}

export interface Verified {
  readonly authenticatedAt: number;
  /** The session the verification started. */
  readonly session: NewSessionFacts;
  readonly accessToken: AccessToken;
}

/** A session as its creator learns it: the only time its token is known in clear. */
export interface NewSessionFacts {
  readonly token: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly expiresAt: number;
}

const notFound = () =>
  new OtpError({ kind: "not_found" }, "no code was requested for this account; request one first");
const boundNotFound = () =>
  new OtpError(
    { kind: "not_found" },
    "no live code has this otp_id for this account; request a new code",
  );
const alreadyUsed = () =>
  new OtpError({ kind: "already_used" }, "this code was already used; request a new one");
const expired = () => new OtpError({ kind: "expired" }, "this code has expired; request a new one");
const mismatch = (attemptsRemaining: number) =>
  new OtpError(
    { kind: "mismatch", attemptsRemaining },
    `wrong code; ${attemptsRemaining} attempt${attemptsRemaining === 1 ? "" : "s"} left`,
  );

// A step refused because the state moved since it was read is judged again on a fresh read; the
// state can move only so often (a code is used, dies or is replaced once), so a few rounds end it.
const MAX_ROUNDS = 4;

/**
 * Checks a code. Order: input, the account's failure cap, the unbound lock (unbound only), no
 * code, used, expired, compare. With `otpId` (bound) the code of that request is judged alone: its
 * own attempts, no unbound lock, not replaced by later codes. Without (unbound), the latest code of
 * (account, purpose) under seed A's rules. A wrong code counts a failure against the code (bound)
 * or the pair (unbound), and against the account; the failure that exhausts either answers
 * locked. A right code is used up and starts a session (in the same store step), answered with
 * its token and an access token.
 */
export async function verifyOtp(deps: VerifyOtpDeps, input: VerifyOtpInput): Promise<Verified> {
  const { store, clock, policy } = deps;
  const account = readAccount(input);
  // The store's name for the account (see account.ts), wherever the port says `email`.
  const email = accountKey(account);
  const purpose = normalizePurpose(input.purpose);
  const otp = normalizeOtp(input.otp, policy.codeLength);
  const otpId = normalizeOtpId(input.otpId);
  if (otpId === null && policy.verifyBinding === "required") {
    throw invalidArgument("otp_id", "otp_id is required: send the otp_id RequestOtp answered");
  }
  const bound = otpId !== null;
  const gate: AccountGate = {
    network: networkOf(input.clientIp),
    maxFailures: policy.accountMaxFailures,
    windowMs: policy.failureWindowMs,
    maxAttempts: policy.maxAttempts,
  };

  /**
   * Uses code `codeOtpId` (null: the pair's latest, keyed only) and starts its session, in one
   * store step: the verification when used; otherwise the store's outcome (keyed, the attempt may
   * have been counted as a mismatch instead).
   */
  const useCode = async (
    codeOtpId: string | null,
    now: number,
    keyed?: KeyedAttempt,
  ): Promise<
    | { readonly kind: "verified"; readonly verified: Verified }
    | Exclude<ConsumeOutcome, { kind: "consumed" }>
  > => {
    const token = deps.random.token();
    const session = {
      sessionId: deps.random.id(),
      tokenHash: hashSessionToken(token),
      expiresAt: now + policy.sessionTtlMs,
      clientAddress: clientNetworkOf(input.clientIp),
      userAgent: userAgentOf(input.userAgent),
    };
    const outcome = await store.consumeCode({
      email,
      purpose,
      otpId: codeOtpId,
      bound,
      gate,
      now,
      retainUntil: session.expiresAt,
      session,
      userId: deps.random.id(),
      audit: auditContextOf(input, now, policy.auditRetentionMs),
      keyed,
    });
    if (outcome.kind !== "consumed") {
      return outcome;
    }
    deps.events?.codeVerified();
    deps.events?.audited?.("session.created", 1);
    const { sessionId, expiresAt } = session;
    const { userId } = outcome;
    const verified: Verified = {
      authenticatedAt: now,
      session: { token, sessionId, userId, expiresAt },
      accessToken: await issueAccessToken(
        deps,
        { sessionId, userId, account, purpose, expiresAt },
        now,
      ),
    };
    return { kind: "verified", verified };
  };

  /** The answer to a counted wrong code compared with a code that expires at `expiresAt`. */
  const wrongCode = (failure: CountedFailure, expiresAt: number, now: number): OtpError => {
    deps.events?.codeFailed();
    deps.events?.audited?.("otp.verify_failed", 1);
    if (lockScopeOfFailure(gate, bound, failure) !== null) {
      deps.events?.audited?.("otp.locked", 1);
    }
    const cappedNow = capRefusal(failure.accountFailures, gate, bound, now);
    if (cappedNow !== null) {
      // This failure reached the account's cap.
      deps.events?.codeLocked();
      return lockedError(cappedNow - now, "account");
    }
    if (failure.lockedUntil !== null) {
      deps.events?.codeLocked();
      return lockedError(failure.lockedUntil - now, "unbound");
    }
    if (bound && failure.failures >= policy.maxAttempts) {
      // The code is dead: the wait is the rest of its life, after which it would have expired
      // anyway; a new code can be requested at once.
      deps.events?.codeLocked();
      return lockedError(expiresAt - now, "code");
    }
    const live = failure.accountFailures.filter((f) => f.at > now - policy.failureWindowMs);
    return mismatch(
      Math.min(policy.maxAttempts - failure.failures, policy.accountMaxFailures - live.length),
    );
  };

  {
    // First the store is handed the key this code makes, before anything is read: it judges the
    // code named (bound) or the pair's latest (unbound) in one step, using it or counting the
    // attempt against it exactly as the steps below would (see the port's consumeCode), so a
    // right or wrong code costs one round trip. Anything else (no such code, used, expired,
    // locked, capped, or a code written by an older version) is refused without a trace and
    // judged below, which says why.
    input.signal?.throwIfAborted();
    const now = clock.now();
    const first = await useCode(otpId, now, {
      codeKey: codeKeyOf(deps.hmacKey, { email, purpose, code: otp }),
      lockUntil: now + policy.lockoutMs,
    });
    if (first.kind === "verified") {
      return first.verified;
    }
    if (first.kind === "mismatch") {
      throw wrongCode(first.failure, first.expiresAt, now);
    }
  }

  for (let round = 1; ; round++) {
    input.signal?.throwIfAborted();
    const now = clock.now();
    const state = await store.readOtpState({
      email,
      purpose,
      otpId,
      now,
      failureWindowMs: policy.failureWindowMs,
    });
    const capped = capRefusal(state.failures, gate, bound, now);
    if (capped !== null) {
      throw lockedError(capped - now, "account");
    }
    if (!bound && state.lockedUntil !== null && state.lockedUntil > now) {
      throw lockedError(state.lockedUntil - now, "unbound");
    }
    const { code } = state;
    // A code dead from wrong bound attempts is gone for both lanes, as a burned code is.
    if (code === null || code.failures >= policy.maxAttempts) {
      throw bound ? boundNotFound() : notFound();
    }
    if (code.usedAt !== null) {
      throw alreadyUsed();
    }
    if (code.expiresAt <= now) {
      throw expired();
    }
    if (round > MAX_ROUNDS) {
      // Only a state that keeps moving under this attempt gets here; it had its chances.
      throw bound ? boundNotFound() : notFound();
    }
    const candidate = hashCode(deps.hmacKey, { otpId: code.otpId, email, purpose, code: otp });
    if (!hashesEqual(candidate, code.codeHash)) {
      const failure = await store.recordFailure({
        email,
        purpose,
        otpId: code.otpId,
        bound,
        gate,
        now,
        lockUntil: now + policy.lockoutMs,
        audit: auditContextOf(input, now, policy.auditRetentionMs),
      });
      if (!failure.counted) {
        // A concurrent attempt moved the state first (used or killed the code, locked the pair,
        // reached the cap): judge again on what it left.
        continue;
      }
      throw wrongCode(failure, code.expiresAt, now);
    }
    const used = await useCode(code.otpId, now);
    if (used.kind === "verified") {
      return used.verified;
    }
    // Refused: used, expired, replaced, locked or capped since the read. Unbound, a newer code is
    // then judged in the next round, as the latest code is what an unbound attempt means.
  }
}
