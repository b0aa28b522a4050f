import { type AccountName, accountKey, mailboxLimitBucket, readAccount } from "./account.js";
import { type AuditContext, auditContextOf } from "./audit-event.js";
import { describeWait, OtpError } from "./errors.js";
import { networkOf } from "./ip-bucket.js";
import { codeKeyOf, hashCode, keyedCodeHash } from "./otp-code.js";
import type { IssuedOtp, OtpStore, SlotLimit } from "./otp-store.js";
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
  /** The client's User-Agent, for the audit trail. */
  readonly userAgent?: string | undefined;
  /** The call's request id, for the audit trail. */
  readonly requestId?: string | undefined;
  /**
   * Aborts when the caller gives up (deadline, disconnect): no code is issued for them then, and
   * waiting for a held key stops.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Issues and delivers a new code for (account, purpose); the codes issued before it stay
 * verifiable by their otp_id. Checks, in order: input (and that the sender can reach an account
 * named by external id), idempotency replay, the (account, network) limit, the mailbox limit, the
 * per-IP limit. An unbound lock does not refuse it (a code asked for during one verifies with its
 * otp_id). Refused and undelivered requests use no quota.
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
    return issue(deps, account, purpose, input);
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
    issued = await issue(deps, account, purpose, input);
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
  input: RequestOtpInput,
): Promise<IssuedOtp> {
  const { store, policy, clock, random } = deps;
  const { clientIp, signal } = input;
  // A caller who has gone takes no quota and gets no code; the abort's reason is their answer.
  signal?.throwIfAborted();
  const now = clock.now();
  const otpId = random.id();
  const owner = accountKey(account);
  const audit: AuditContext = auditContextOf(input, now, policy.auditRetentionMs);
  // Three limits, each its own rolling window, taken together or not at all: every code the
  // mailbox receives, and of those the ones asked for from this network (its share, so no network
  // uses up another's); and everything asked for from this network.
  const network = networkOf(clientIp);
  const limits: SlotLimit[] = [
    {
      bucket: mailboxLimitBucket(account),
      limit: policy.mailboxLimit,
      share: { tag: network, limit: policy.requestLimit },
    },
  ];
  if (clientIp !== undefined && policy.ipRequestLimit !== null) {
    limits.push({ bucket: network, limit: policy.ipRequestLimit });
  }
  const slots = await store.takeSlots({ slotId: otpId, now, limits });
  if (!slots.granted) {
    throw slotRefusal(
      slots.retryAt - now,
      slots.refused > 0 ? "ip_limit" : slots.share ? "request_limit" : "mailbox_limit",
    );
  }
  // What this account may still ask for: its network's share, or the mailbox's if less.
  const remainingRequests = slots.remaining[0] ?? 0;

  const code = random.digits(policy.codeLength);
  const expiresAt = now + policy.codeTtlMs;
  try {
    signal?.throwIfAborted();
    await deliver(deps.sender, account, { otpId, purpose, code, expiresAt }, signal);
  } catch (cause) {
    // The code was never activated, so it cannot verify; the previous one keeps working.
    await bestEffort(store.releaseSlots(limits, otpId));
    await bestEffort(
      store
        .recordDeliveryFailure({ email: owner, purpose, now, audit })
        .then(() => deps.events?.audited?.("otp.delivery_failed", 1)),
    );
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
    keyedHash: keyedCodeHash(codeKeyOf(deps.hmacKey, { email: owner, purpose, code }), otpId),
    issuedAt: now,
    expiresAt,
    // Kept one more TTL after expiry so a late attempt hears "expired", not "not found".
    retainUntil: expiresAt + policy.codeTtlMs,
    audit,
  });
  deps.events?.codeIssued();
  deps.events?.audited?.("otp.requested", 1);
  return {
    otpId,
    expiresAt,
    ttlMs: policy.codeTtlMs,
    remainingRequests,
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
  request_limit: "too many codes requested for this account from this network",
  mailbox_limit: "too many codes requested for this account",
  ip_limit: "too many codes requested from this address",
} as const;

/** The refusal of a limit whose oldest slot frees in `wait` ms. */
function slotRefusal(wait: number, limit: keyof typeof LIMIT_MESSAGES): OtpError {
  return new OtpError(
    { kind: limit === "ip_limit" ? "ip_limit" : "request_limit", retryAfterMs: wait },
    `${LIMIT_MESSAGES[limit]}; try again in ${describeWait(wait)}`,
  );
}

/** Undo steps after a failure must not hide the failure itself. */
async function bestEffort(step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch {
    // the original error is the one the caller needs
  }
}
