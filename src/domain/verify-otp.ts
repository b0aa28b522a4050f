import { accountKey, readAccount } from "./account.js";
import { lockedError, OtpError } from "./errors.js";
import { hashCode, hashesEqual } from "./otp-code.js";
import type { OtpStore } from "./otp-store.js";
import type { Clock, OtpEvents } from "./ports.js";
import {
  type AccessToken,
  type AccessTokenDeps,
  hashSessionToken,
  issueAccessToken,
} from "./session.js";
import { clientNetworkOf, userAgentOf } from "./session-device.js";
import { normalizeOtp, normalizePurpose } from "./validate.js";

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
  /** Aborts when the caller gives up (deadline, disconnect): the check stops before its next step. */
  readonly signal?: AbortSignal | undefined;
  /** The client's IP (as the limits see it) and User-Agent: the new session keeps them, masked. */
  readonly clientAddress?: string | undefined;
  readonly userAgent?: string | undefined;
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
const alreadyUsed = () =>
  new OtpError({ kind: "already_used" }, "this code was already used; request a new one");
const expired = () => new OtpError({ kind: "expired" }, "this code has expired; request a new one");

/**
 * Checks a code. Order: input, lock, no code, used, expired, compare. A wrong code counts a failure;
 * the failure that reaches the attempt limit locks and is answered as locked. A right code is used
 * up, clears the failures and starts a session (in the same store step), answered with its token
 * and an access token.
 */
export async function verifyOtp(deps: VerifyOtpDeps, input: VerifyOtpInput): Promise<Verified> {
  const { store, clock, policy } = deps;
  const account = readAccount(input);
  // The store's name for the account (see account.ts), wherever the port says `email`.
  const email = accountKey(account);
  const purpose = normalizePurpose(input.purpose);
  const otp = normalizeOtp(input.otp, policy.codeLength);

  // A second round only when a newer code replaced the one compared against in the meantime:
  // the attempt is then judged against the newer code.
  for (let round = 1; ; round++) {
    input.signal?.throwIfAborted();
    const now = clock.now();
    const { code, lockedUntil } = await store.readOtpState(email, purpose);
    if (lockedUntil !== null && lockedUntil > now) {
      throw lockedError(lockedUntil - now);
    }
    if (code === null) {
      throw notFound();
    }
    if (code.usedAt !== null) {
      throw alreadyUsed();
    }
    if (code.expiresAt <= now) {
      throw expired();
    }
    const candidate = hashCode(deps.hmacKey, { otpId: code.otpId, email, purpose, code: otp });
    if (!hashesEqual(candidate, code.codeHash)) {
      const failure = await store.recordFailure({
        email,
        purpose,
        now,
        lockAt: policy.maxAttempts,
        lockUntil: now + policy.lockoutMs,
      });
      // Not counted (failures 0) when a concurrent failure locked the pair first.
      if (failure.failures > 0) {
        deps.events?.codeFailed();
      }
      if (failure.lockedUntil !== null && failure.lockedUntil > now) {
        if (failure.failures > 0) {
          deps.events?.codeLocked();
        }
        throw lockedError(failure.lockedUntil - now);
      }
      const attemptsRemaining = policy.maxAttempts - failure.failures;
      throw new OtpError(
        { kind: "mismatch", attemptsRemaining },
        `wrong code; ${attemptsRemaining} attempt${attemptsRemaining === 1 ? "" : "s"} left`,
      );
    }
    const token = deps.random.token();
    const session = {
      sessionId: deps.random.id(),
      tokenHash: hashSessionToken(token),
      expiresAt: now + policy.sessionTtlMs,
      clientAddress: clientNetworkOf(input.clientAddress),
      userAgent: userAgentOf(input.userAgent),
    };
    const outcome = await store.consumeCode({
      email,
      purpose,
      otpId: code.otpId,
      now,
      retainUntil: session.expiresAt,
      session,
      userId: deps.random.id(),
    });
    switch (outcome.kind) {
      case "consumed": {
        deps.events?.codeVerified();
        const { sessionId, expiresAt } = session;
        const { userId } = outcome;
        return {
          authenticatedAt: now,
          session: { token, sessionId, userId, expiresAt },
          accessToken: await issueAccessToken(
            deps,
            { sessionId, userId, account, purpose, expiresAt },
            now,
          ),
        };
      }
      case "used":
        throw alreadyUsed();
      case "expired":
        throw expired();
      case "locked":
        throw lockedError(outcome.lockedUntil - now);
      case "replaced":
        if (round >= 2) {
          throw notFound();
        }
    }
  }
}
