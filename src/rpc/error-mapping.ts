import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  QuotaFailureSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { OtpError, type Refusal, type RequestField } from "../domain/errors.js";

/** ErrorInfo.domain of every refusal. */
export const ERROR_DOMAIN = "auth.v1";

type OutgoingDetails = ConstructorParameters<typeof ConnectError>[3];

/**
 * The one mapping from refusals to gRPC status, ErrorInfo reason and details: SPEC.md's error
 * table. Everything that leaves the service as an error passes through here.
 */
export function toConnectError(error: OtpError): ConnectError {
  const refusal = error.refusal;
  const row = errorTable(refusal);
  const details: NonNullable<OutgoingDetails> = [
    {
      desc: ErrorInfoSchema,
      value: { reason: row.reason, domain: ERROR_DOMAIN, metadata: row.metadata ?? {} },
    },
    ...(row.details ?? []),
  ];
  let metadata: Record<string, string> | undefined;
  if ("retryAfterMs" in refusal) {
    const seconds = retryAfterSeconds(refusal.retryAfterMs);
    metadata = { "retry-after": String(seconds) };
    details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(seconds) } } });
  }
  return new ConnectError(error.message, row.code, metadata, details, error);
}

/** The ErrorInfo reason a refusal is answered with, e.g. `OTP_LOCKED` for a lock. */
export function refusalReason(refusal: Refusal): string {
  return errorTable(refusal).reason;
}

interface Row {
  readonly code: Code;
  readonly reason: string;
  readonly metadata?: Record<string, string>;
  readonly details?: NonNullable<OutgoingDetails>;
}

function errorTable(refusal: Refusal): Row {
  switch (refusal.kind) {
    case "invalid_argument":
      return {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        metadata: { field: refusal.field },
        details: [badRequest(refusal.field, refusal.description)],
      };
    case "request_limit":
      return {
        code: Code.ResourceExhausted,
        reason: "OTP_REQUEST_LIMIT",
        details: [quotaFailure("email", "codes requested for this email")],
      };
    case "ip_limit":
      return {
        code: Code.ResourceExhausted,
        reason: "IP_REQUEST_LIMIT",
        details: [quotaFailure("client_ip", "codes requested from this client address")],
      };
    case "locked":
      return { code: Code.ResourceExhausted, reason: "OTP_LOCKED" };
    case "not_found":
      return { code: Code.NotFound, reason: "OTP_NOT_FOUND" };
    case "expired":
      return { code: Code.DeadlineExceeded, reason: "OTP_EXPIRED" };
    case "already_used":
      return { code: Code.FailedPrecondition, reason: "OTP_ALREADY_USED" };
    case "mismatch":
      return {
        code: Code.Unauthenticated,
        reason: "OTP_MISMATCH",
        metadata: { attempts_remaining: String(refusal.attemptsRemaining) },
      };
    case "idempotency_mismatch":
      return { code: Code.FailedPrecondition, reason: "IDEMPOTENCY_KEY_MISMATCH" };
    case "delivery_failed":
      return { code: Code.Unavailable, reason: "DELIVERY_FAILED" };
    case "storage_unavailable":
      return { code: Code.Unavailable, reason: "STORAGE_UNAVAILABLE" };
  }
}

/** `retry-after` is whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function badRequest(field: RequestField, description: string) {
  return {
    desc: BadRequestSchema,
    value: { fieldViolations: [{ field, description }] },
  };
}

function quotaFailure(subject: string, description: string) {
  return { desc: QuotaFailureSchema, value: { violations: [{ subject, description }] } };
}

/**
 * Rewrites an error that connect raised before a handler ran (undecodable or oversized body) into
 * the shape of the service's own errors. Returns undefined for errors that need no rewrite: the
 * service's own, a client's transport deadline, and internal errors.
 */
export function normalizeFrameworkError(error: ConnectError): ConnectError | undefined {
  if (error.findDetails(ErrorInfoSchema).length > 0) {
    return undefined;
  }
  const undecodable =
    error.code === Code.InvalidArgument ||
    (error.code === Code.Internal && error.rawMessage.startsWith("parse binary")) ||
    // An envelope flagged compressed in a request that named no compression.
    (error.code === Code.Internal && error.rawMessage.startsWith("received compressed envelope")) ||
    // A unary gRPC or gRPC-Web request framing no message, or two.
    (error.code === Code.Unimplemented && error.rawMessage.includes("input message for unary"));
  if (undecodable) {
    return invalidBody(`the request body could not be decoded: ${error.rawMessage}`, error);
  }
  if (error.code === Code.ResourceExhausted) {
    return new ConnectError(
      `the request is too large: ${error.rawMessage}`,
      Code.ResourceExhausted,
      undefined,
      [{ desc: ErrorInfoSchema, value: { reason: "MESSAGE_TOO_LARGE", domain: ERROR_DOMAIN } }],
      error,
    );
  }
  return undefined;
}

/** The INVALID_ARGUMENT error for a request body the service cannot read at all. */
export function invalidBody(description: string, cause?: unknown): ConnectError {
  const refusal = new OtpError(
    { kind: "invalid_argument", field: "body", description },
    description,
    {
      cause,
    },
  );
  return toConnectError(refusal);
}
