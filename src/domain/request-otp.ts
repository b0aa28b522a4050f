import { describeWait, lockedError, OtpError } from "./errors.js";
import { ipBucketOf } from "./ip-bucket.js";
import { hashCode } from "./otp-code.js";
import type { IssuedOtp, OtpStore, SlotOutcome } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents, OtpSender, RandomSource } from "./ports.js";
import { checkIdempotencyKey, normalizeEmail, normalizePurpose } from "./validate.js";

/** What issuing and delivering a code needs. */
export interface RequestOtpDeps {
  readonly store: OtpStore;
  readonly sender: OtpSender;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly policy: Policy;
  /** Key for the HMAC that codes are stored as. */
  readonly hmacKey: Uint8Array;
  /** Told of codes issued, if given. */
  readonly events?: OtpEvents;
}

export interface RequestOtpInput {
  readonly email: string;
  readonly purpose: string;
  /** The `idempotency-key` request header, if the client sent one. */
  readonly idempotencyKey?: string | undefined;
  /** The client's address as the transport determined it; no per-IP limit without one. */
  readonly clientIp?: string | undefined;
  /**
   * Aborts when the caller gives up (deadline, disconnect): no code is issued for them then, and
   * waiting for a held key stops.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Issues and delivers a new code for (email, purpose). Checks, in order: input, idempotency replay,
 * lock, per-email limit, per-IP limit. Refused and undelivered requests use no quota.
 */
export async function requestOtp(deps: RequestOtpDeps, input: RequestOtpInput): Promise<IssuedOtp> {
  const email = normalizeEmail(input.email);
  const purpose = normalizePurpose(input.purpose);
  if (input.idempotencyKey === undefined) {
    return issue(deps, email, purpose, input.clientIp, input.signal);
  }
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = deps.clock.now();
  const claim = await deps.store.claimIdempotencyKey({
    email,
    key,
    purpose,
    now,
    expiresAt: now + deps.policy.idempotencyTtlMs,
    signal: input.signal,
  });
  if (claim.kind === "replay") {
    return claim.response;
  }
  if (claim.kind === "mismatch") {
    throw new OtpError(
      { kind: "idempotency_mismatch" },
      "idempotency-key was already used for a request with a different purpose",
    );
  }
  let issued: IssuedOtp;
  try {
    issued = await issue(deps, email, purpose, input.clientIp, input.signal);
  } catch (e) {
    await bestEffort(deps.store.releaseIdempotencyKey(email, key, claim.holder));
    throw e;
  }
  await deps.store.completeIdempotencyKey(email, key, claim.holder, issued);
  return issued;
}

async function issue(
  deps: RequestOtpDeps,
  email: string,
  purpose: string,
  clientIp: string | undefined,
  signal: AbortSignal | undefined,
): Promise<IssuedOtp> {
  const { store, policy, clock, random } = deps;
  // A caller who has gone takes no quota and gets no code; the abort's reason is their answer.
  signal?.throwIfAborted();
  const now = clock.now();
  const otpId = random.id();
  const emailBucket = `email:${email}`;
  // The lock is checked in the same step as the email limit, before it: one round trip fewer.
  const emailSlot = await store.takeSlot({
    bucket: emailBucket,
    slotId: otpId,
    now,
    limit: policy.requestLimit,
    unlessLocked: { email, purpose },
  });
  if (!emailSlot.granted) {
    throw slotRefusal(emailSlot, now, "request_limit");
  }
  const taken = [emailBucket];
  if (clientIp !== undefined && policy.ipRequestLimit !== null) {
    const ipBucket = ipBucketOf(clientIp);
    const ipSlot = await store.takeSlot({
      bucket: ipBucket,
      slotId: otpId,
      now,
      limit: policy.ipRequestLimit,
    });
    if (!ipSlot.granted) {
      await releaseSlots(store, taken, otpId);
      throw slotRefusal(ipSlot, now, "ip_limit");
    }
    taken.push(ipBucket);
  }

  const code = random.digits(policy.codeLength);
  const expiresAt = now + policy.codeTtlMs;
  try {
    signal?.throwIfAborted();
    await deps.sender.send({ otpId, email, purpose, code, expiresAt }, signal);
  } catch (cause) {
    // The code was never activated, so it cannot verify; the previous one keeps working.
    await releaseSlots(store, taken, otpId);
    if (signal?.aborted) {
      throw signal.reason;
    }
    throw new OtpError(
      { kind: "delivery_failed", otpId },
      "the code could not be delivered; try again later",
      { cause },
    );
  }
  await store.activateCode({
    userId: random.id(),
    email,
    purpose,
    otpId,
    codeHash: hashCode(deps.hmacKey, { otpId, email, purpose, code }),
    issuedAt: now,
    expiresAt,
    // Kept one more TTL after expiry so a late attempt hears "expired", not "not found".
    retainUntil: expiresAt + policy.codeTtlMs,
  });
  deps.events?.codeIssued();
  return {
    otpId,
    expiresAt,
    ttlMs: policy.codeTtlMs,
    remainingRequests: emailSlot.remaining,
    codeLength: policy.codeLength,
  };
}

const LIMIT_MESSAGES = {
  request_limit: "too many codes requested for this email",
  ip_limit: "too many codes requested from this address",
} as const;

/** What a refused slot means to the caller: the pair's lock, or the limit that is reached. */
function slotRefusal(
  slot: Extract<SlotOutcome, { granted: false }>,
  now: number,
  limit: keyof typeof LIMIT_MESSAGES,
): OtpError {
  if ("lockedUntil" in slot) {
    return lockedError(slot.lockedUntil - now);
  }
  const wait = slot.retryAt - now;
  return new OtpError(
    { kind: limit, retryAfterMs: wait },
    `${LIMIT_MESSAGES[limit]}; try again in ${describeWait(wait)}`,
  );
}

async function releaseSlots(store: OtpStore, buckets: string[], slotId: string): Promise<void> {
  await Promise.all(buckets.map((bucket) => bestEffort(store.releaseSlot(bucket, slotId))));
}

/** Undo steps after a failure must not hide the failure itself. */
async function bestEffort(step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch {
    // the original error is the one the caller needs
  }
}
