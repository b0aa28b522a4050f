import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  QuotaFailureSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { OtpError, type Refusal } from "../domain/errors.js";
import { type FrameworkRefusal, FrameworkRefusalError } from "./framework-refusals.js";
import { recordOf } from "./headers.js";

/** ErrorInfo.domain of every refusal. */
export const ERROR_DOMAIN = "auth.v1";

/** The google.rpc detail messages a rejection may carry (ErrorInfo always, the rest as they apply). */
export const ERROR_DETAIL_TYPES = [
  ErrorInfoSchema,
  RetryInfoSchema,
  BadRequestSchema,
  QuotaFailureSchema,
] as const;

/** One google.rpc detail message: its schema and its value (as protobuf-es builds it). */
export type ErrorDetail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

/**
 * The transport-neutral answer to a call that failed: what every door encodes in its own way
 * (connect: ConnectError; grpc-js: status, metadata and grpc-status-details-bin; REST: HTTP
 * status and google.rpc.Status JSON).
 */
export interface Rejection {
  readonly code: Code;
  readonly message: string;
  /** The ErrorInfo reason when the service refused (absent for transport errors and INTERNAL). */
  readonly reason?: string | undefined;
  /** google.rpc details: ErrorInfo first, then RetryInfo, BadRequest, QuotaFailure as they apply. */
  readonly details: readonly ErrorDetail[];
  /** Response headers (Connect) or trailers (gRPC, gRPC-Web): `retry-after`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** What was thrown, for logs; never sent. */
  readonly cause?: unknown;
}

/**
 * The answer to whatever a handler or decoder threw, without side effects (the pipeline logs):
 * a domain refusal or a framework refusal by SPEC.md's error table; a ConnectError as it is (a
 * transport deadline, health's NOT_FOUND); anything else as INTERNAL with the message elided.
 */
export function rejectionOf(thrown: unknown): Rejection {
  if (thrown instanceof OtpError || thrown instanceof FrameworkRefusalError) {
    return refusalRejection(thrown.refusal, thrown.message, thrown);
  }
  if (thrown instanceof ConnectError) {
    const metadata = recordOf(thrown.metadata);
    const details = thrown.details.filter((detail): detail is ErrorDetail => "desc" in detail);
    return { code: thrown.code, message: thrown.rawMessage, details, metadata, cause: thrown };
  }
  return {
    code: Code.Internal,
    message: "internal error",
    details: [],
    metadata: {},
    cause: thrown,
  };
}

/** The ErrorInfo reason a refusal is answered with, e.g. `OTP_LOCKED` for a lock. */
export function refusalReason(refusal: Refusal | FrameworkRefusal): string {
  return errorTable(refusal).reason;
}

/** `Code.ResourceExhausted` → `RESOURCE_EXHAUSTED`, as gRPC names its codes. */
export function codeName(code: Code): string {
  return code in Code ? codeToString(code).toUpperCase() : "UNKNOWN";
}

/** The connect encoding of a rejection, as connect-node's handlers throw it. */
export function connectErrorOf(rejection: Rejection): ConnectError {
  if (rejection.reason === undefined && rejection.cause instanceof ConnectError) {
    return rejection.cause;
  }
  const metadata = Object.keys(rejection.metadata).length > 0 ? rejection.metadata : undefined;
  return new ConnectError(
    rejection.message,
    rejection.code,
    metadata,
    [...rejection.details],
    rejection.cause,
  );
}

/** A domain refusal as connect answers it (for tests and the login page's messages). */
export function toConnectError(error: OtpError): ConnectError {
  return connectErrorOf(rejectionOf(error));
}

function refusalRejection(
  refusal: Refusal | FrameworkRefusal,
  message: string,
  cause: unknown,
): Rejection {
  const row = errorTable(refusal);
  const details: ErrorDetail[] = [
    {
      desc: ErrorInfoSchema,
      value: { reason: row.reason, domain: ERROR_DOMAIN, metadata: row.metadata ?? {} },
    },
    ...(row.details ?? []),
  ];
  let metadata: Record<string, string> = {};
  if (refusal.kind === "method_not_allowed") {
    metadata = { allow: refusal.allowed.join(", ") };
  }
  if ("retryAfterMs" in refusal) {
    const seconds = retryAfterSeconds(refusal.retryAfterMs);
    metadata = { "retry-after": String(seconds) };
    details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(seconds) } } });
  }
  return { code: row.code, message, reason: row.reason, details, metadata, cause };
}

interface Row {
  readonly code: Code;
  readonly reason: string;
  readonly metadata?: Record<string, string>;
  readonly details?: readonly ErrorDetail[];
}

/**
 * The one mapping from refusals to gRPC status, ErrorInfo reason and details: SPEC.md's error
 * table. Everything that leaves the service as a refusal passes through here.
 */
function errorTable(refusal: Refusal | FrameworkRefusal): Row {
  switch (refusal.kind) {
    // A request field, a body that cannot be read, and a REST query parameter are one row.
    case "invalid_argument":
      return invalidArgumentRow(refusal.field, refusal.description, refusal.moreFields);
    case "invalid_parameter":
      return invalidArgumentRow(refusal.field, refusal.description);
    case "undecodable_body":
    case "unsupported_content_type":
    case "unsupported_encoding":
      return invalidArgumentRow("body", refusal.description);
    case "message_too_large":
      return { code: Code.ResourceExhausted, reason: "MESSAGE_TOO_LARGE" };
    case "route_not_found":
      return { code: Code.NotFound, reason: "ROUTE_NOT_FOUND" };
    case "method_not_allowed":
      return { code: Code.Unimplemented, reason: "METHOD_NOT_ALLOWED" };
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
      return {
        code: Code.ResourceExhausted,
        reason: "OTP_LOCKED",
        metadata: { lock_scope: refusal.scope },
      };
    case "not_found":
      return { code: Code.NotFound, reason: "OTP_NOT_FOUND" };
    case "user_not_found":
      return { code: Code.NotFound, reason: "USER_NOT_FOUND" };
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
    case "caller_unauthenticated":
      return { code: Code.Unauthenticated, reason: "CALLER_UNAUTHENTICATED" };
    case "external_id_delivery_unavailable":
      return { code: Code.FailedPrecondition, reason: "EXTERNAL_ID_DELIVERY_UNAVAILABLE" };
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

/**
 * INVALID_ARGUMENT naming `field` (ErrorInfo metadata `field`, and the first BadRequest
 * violation) and `moreFields` (a violation each, with the same description: a request that names
 * a user twice is wrong in both fields).
 */
function invalidArgumentRow(
  field: string,
  description: string,
  moreFields: readonly string[] = [],
): Row {
  return {
    code: Code.InvalidArgument,
    reason: "INVALID_ARGUMENT",
    metadata: { field },
    details: [badRequest([field, ...moreFields], description)],
  };
}

function badRequest(fields: readonly string[], description: string): ErrorDetail {
  return {
    desc: BadRequestSchema,
    value: { fieldViolations: fields.map((field) => ({ field, description })) },
  };
}

function quotaFailure(subject: string, description: string): ErrorDetail {
  return { desc: QuotaFailureSchema, value: { violations: [{ subject, description }] } };
}
