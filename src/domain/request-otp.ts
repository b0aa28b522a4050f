import { type AccountName, accountKey, readAccount, requestLimitBucket } from "./account.js";
import { describeWait, lockedError, OtpError } from "./errors.js";
import { ipBucketOf } from "./ip-bucket.js";
import { hashCode } from "./otp-code.js";
import type { IssuedOtp, OtpStore, SlotOutcome } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents, OtpSender, RandomSource } from "./ports.js";
import { checkIdempotencyKey, normalizePurpose } from "./validate.js";

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
  /** The account, named by exactly one of `email` and `externalId` (empty is absent). */
  readonly email?: string | undefined;
  readonly externalId?: string | undefined;
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
 * Issues and delivers a new code for (account, purpose). Checks, in order: input (and that the
 * sender can reach an account named by external id), idempotency replay, lock, per-account limit,
 * per-IP limit. Refused and undelivered requests use no quota.
 */
export async function requestOtp(deps: RequestOtpDeps, input: RequestOtpInput): Promise<IssuedOtp> {
  const account = readAccount(input);
  const purpose = normalizePurpose(input.purpose);
  const key =
    input.idempotencyKey === undefined ? undefined : checkIdempotencyKey(input.idempotencyKey);
  // Refused before anything is stored or counted: the configured sender cannot reach this user.
  if (account.externalId !== undefined && deps.sender.sendToExternalId === undefined) {
    throw externalIdUndeliverable();
  }
  if (key === undefined) {
    return issue(deps, account, purpose, input.clientIp, input.signal);
  }
  const owner = accountKey(account);
  const now = deps.clock.now();
  const claim = await deps.store.claimIdempotencyKey({
    email: owner,
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
    issued = await issue(deps, account, purpose, input.clientIp, input.signal);
  } catch (e) {
    await bestEffort(deps.store.releaseIdempotencyKey(owner, key, claim.holder));
    throw e;
  }
  await deps.store.completeIdempotencyKey(owner, key, claim.holder, issued);
  return issued;
}

async function issue(
  deps: RequestOtpDeps,
  account: AccountName,
  purpose: string,
  clientIp: string | undefined,
  signal: AbortSignal | undefined,
): Promise<IssuedOtp> {
  const { store, policy, clock, random } = deps;
  // A caller who has gone takes no quota and gets no code; the abort's reason is their answer.
  signal?.throwIfAborted();
  const now = clock.now();
  const otpId = random.id();
  const owner = accountKey(account);
  const accountBucket = requestLimitBucket(account);
  // The lock is checked in the same step as the account's limit, before it: one round trip fewer.
  const accountSlot = await store.takeSlot({
    bucket: accountBucket,
    slotId: otpId,
    now,
    limit: policy.requestLimit,
    unlessLocked: { email: owner, purpose },
  });
  if (!accountSlot.granted) {
    throw slotRefusal(accountSlot, now, "request_limit");
  }
  const taken = [accountBucket];
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
    await deliver(deps.sender, account, { otpId, purpose, code, expiresAt }, signal);
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
    email: owner,
    purpose,
    otpId,
    codeHash: hashCode(deps.hmacKey, { otpId, email: owner, purpose, code }),
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
    remainingRequests: accountSlot.remaining,
    codeLength: policy.codeLength,
  };
}

/** Hands the code to the sender, by the way its account is named. */
function deliver(
  sender: OtpSender,
  account: AccountName,
  code: { otpId: string; purpose: string; code: string; expiresAt: number },
  signal: AbortSignal | undefined,
): Promise<void> {
  if (account.externalId === undefined) {
    return sender.send({ ...code, email: account.email }, signal);
  }
  if (sender.sendToExternalId === undefined) {
    // requestOtp refused this before taking any quota; here only for the types.
    throw externalIdUndeliverable();
  }
  return sender.sendToExternalId({ ...code, externalId: account.externalId }, signal);
}

function externalIdUndeliverable(): OtpError {
  return new OtpError(
    { kind: "external_id_delivery_unavailable" },
    "codes for an account named by external_id are delivered only by the webhook sender, " +
      "and this service is not configured with OTP_SENDER=webhook",
  );
}

const LIMIT_MESSAGES = {
  request_limit: "too many codes requested for this account",
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
