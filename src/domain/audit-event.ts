import type { LockScope } from "./errors.js";
import type { AccountFailure, AccountGate } from "./otp-store.js";
import { defaultPolicy } from "./policy.js";
import { clientNetworkOf, userAgentOf } from "./session-device.js";

/** What an audit event records (SPEC "Session lifecycle"). */
export const AUDIT_EVENT_TYPES = [
  "otp.requested",
  "otp.delivery_failed",
  "otp.verify_failed",
  "otp.locked",
  "session.created",
  "session.revoked",
  "user.deleted",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/**
 * Why a session ended: by its own token (`sign_out`), by another session of its user
 * (`other_device`), with every session of its user (`sign_out_all`), by an operator (`admin`), or
 * with its user's erasure (`user_deleted`).
 */
export type RevocationReason =
  | "sign_out"
  | "sign_out_all"
  | "other_device"
  | "admin"
  | "user_deleted";

/** Why a SignOut (store port `revokeSessions`) ends the sessions it ends. */
export function revocationReasonOf(revocation: {
  readonly allOfUser: boolean;
  readonly sessionId?: string | undefined;
}): RevocationReason {
  if (revocation.sessionId !== undefined) {
    return "other_device";
  }
  return revocation.allOfUser ? "sign_out_all" : "sign_out";
}

/**
 * The request an event comes from, as a store writes it beside the change. Never a code, a
 * session token or an access token: only the request id, the client's masked network and its
 * User-Agent (empty for an operator's calls: those fields describe the person's device).
 */
export interface AuditContext {
  readonly requestId: string;
  /** Masked as a session's (session-device.ts): IPv4 /24, IPv6 /48; empty when unknown. */
  readonly clientAddress: string;
  readonly userAgent: string;
  /** Until when the events are kept (AUDIT_RETENTION after they happen). */
  readonly retainUntil: number;
}

/** What a request tells the trail about itself; every field may be absent. */
export interface AuditSource {
  /** The call's request id (x-request-id, or the one the service made). */
  readonly requestId?: string | undefined;
  readonly clientIp?: string | undefined;
  readonly userAgent?: string | undefined;
}

/** The audit context of a person's request at `now`, kept `retentionMs`. */
export function auditContextOf(
  source: AuditSource,
  now: number,
  retentionMs: number,
): AuditContext {
  return {
    requestId: source.requestId ?? "",
    clientAddress: clientNetworkOf(source.clientIp),
    userAgent: userAgentOf(source.userAgent),
    retainUntil: now + retentionMs,
  };
}

/** The audit context of an operator's request: its request id only. */
export function operatorAuditContextOf(
  source: AuditSource,
  now: number,
  retentionMs: number,
): AuditContext {
  return auditContextOf({ requestId: source.requestId }, now, retentionMs);
}

/**
 * The context a store writes when a step was given none (callers other than the domain, such as
 * tests of the store alone): empty request fields, the default retention.
 */
export function auditContextOrDefault(audit: AuditContext | undefined, now: number): AuditContext {
  return (
    audit ?? {
      requestId: "",
      clientAddress: "",
      userAgent: "",
      retainUntil: now + defaultPolicy.auditRetentionMs,
    }
  );
}

/**
 * The scope of the lock a counted failure set, as verify-otp.ts answers it, or null when it set
 * none: the account's cap first (the window's failures, this one included, reached
 * `gate.maxFailures`), then the unbound lock, then (bound) a code out of attempts. The SQL stores
 * write the same test inside their step, next to the failure it records.
 */
export function lockScopeOfFailure(
  gate: Pick<AccountGate, "maxFailures" | "maxAttempts">,
  bound: boolean,
  outcome: {
    readonly failures: number;
    readonly lockedUntil: number | null;
    readonly accountFailures: readonly AccountFailure[];
  },
): LockScope | null {
  if (outcome.accountFailures.length >= gate.maxFailures) {
    return "account";
  }
  if (outcome.lockedUntil !== null) {
    return "unbound";
  }
  return bound && outcome.failures >= gate.maxAttempts ? "code" : null;
}
