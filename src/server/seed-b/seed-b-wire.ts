import type { JsonObject } from "@bufbuild/protobuf";
import type { ErrorInfo } from "../../../gen/google/rpc/error_details_pb.js";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { codeName, type Rejection } from "../../rpc/error-mapping.js";
import { invalidParameter } from "../../rpc/framework-refusals.js";
import { httpStatusOf } from "../http-status.js";

/**
 * Seed B's HTTP dialect on the wire (SPEC.md "Accounts without an email: seed B's API"): its
 * request bodies read into the AuthService requests, and the answers and refusals written as
 * seed B documents them. Only the wire: every rule is the pipeline's and the domain's.
 */

/** `/otp/request`'s body as RequestOtp's request: `user_id` names the account by external id. */
export function requestOtpOf(body: JsonObject): { externalId: string; purpose: string } {
  return { externalId: text(body, "user_id"), purpose: text(body, "purpose") };
}

/**
 * `/otp/verify`'s body as VerifyOtp's request; `code` is the code, and `otp_id` (optional, as
 * `/otp/request` answered it) binds the attempt to that request.
 */
export function verifyOtpOf(body: JsonObject): {
  externalId: string;
  purpose: string;
  otp: string;
  otpId: string;
} {
  return {
    externalId: text(body, "user_id"),
    purpose: text(body, "purpose"),
    otp: text(body, "code"),
    otpId: text(body, "otp_id"),
  };
}

/** A string member of the body (absent: empty, as proto3 reads it); anything else is refused. */
function text(body: JsonObject, name: string): string {
  const value = body[name];
  if (value === undefined || value === null) {
    return "";
  }
  if (typeof value !== "string") {
    throw invalidParameter(name, `${name} must be a string`);
  }
  return value;
}

/** A seed B answer: its HTTP status, headers and JSON body. */
export interface SeedBAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: JsonObject;
}

/** RequestOtp's response: 201 with `otp_id`, `ttl` in seconds and `remaining_requests`. */
export function requestOtpAnswer(response: {
  otpId: string;
  ttl?: { seconds: bigint } | undefined;
  remainingRequests: number;
}): SeedBAnswer {
  return {
    status: 201,
    headers: {},
    body: {
      otp_id: response.otpId,
      ttl: Number(response.ttl?.seconds ?? 0n),
      remaining_requests: response.remainingRequests,
    },
  };
}

/** VerifyOtp's response: 200 `{"success": true, "message": "verification_successful"}`. */
export const VERIFIED: SeedBAnswer = {
  status: 200,
  headers: {},
  body: { success: true, message: "verification_successful" },
};

// The request fields seed B names otherwise; the rest keep the service's names.
const FIELD_NAMES: Readonly<Record<string, string>> = {
  external_id: "user_id",
  // Seed B has no email: a request that names no account is missing its user_id.
  email: "user_id",
  otp: "code",
};

/**
 * A refusal as seed B answers it: `{"error": "<snake_case reason>", …}` under the status seed B
 * documents (401 invalid_code with `attempts_remaining`, 410 code_used and code_expired, 429
 * too_many_attempts with `retry_after_seconds`, 429 rate_limit_exceeded with
 * `remaining_cooldown_seconds`, 400 invalid_request with `field`), else the status REST gives the
 * same refusal, with the service's `message` for those seed B does not document; `Retry-After`
 * and `Allow` as the rejection's metadata says.
 */
export function refusalAnswer(rejection: Rejection): SeedBAnswer {
  const info = rejection.details.find((detail) => detail.desc === ErrorInfoSchema)?.value as
    | Partial<ErrorInfo>
    | undefined;
  const metadata = info?.metadata ?? {};
  const headers = { ...rejection.metadata };
  const retryAfter = Number(rejection.metadata["retry-after"] ?? 0);
  const answer = (status: number, body: JsonObject): SeedBAnswer => ({ status, headers, body });
  switch (rejection.reason) {
    case "INVALID_ARGUMENT": {
      const field = metadata.field ?? "body";
      return answer(httpStatusOf(rejection), {
        error: "invalid_request",
        field: FIELD_NAMES[field] ?? field,
      });
    }
    case "OTP_MISMATCH":
      return answer(401, {
        error: "invalid_code",
        attempts_remaining: Number(metadata.attempts_remaining ?? 0),
      });
    case "OTP_ALREADY_USED":
      return answer(410, { error: "code_used" });
    case "OTP_EXPIRED":
      return answer(410, { error: "code_expired" });
    case "OTP_NOT_FOUND":
      return answer(404, { error: "code_not_found" });
    case "OTP_LOCKED":
      return answer(429, { error: "too_many_attempts", retry_after_seconds: retryAfter });
    case "OTP_REQUEST_LIMIT":
    case "IP_REQUEST_LIMIT":
      return answer(429, { error: "rate_limit_exceeded", remaining_cooldown_seconds: retryAfter });
    case undefined:
      // INTERNAL, or a transport's status: its code's name and nothing more.
      return answer(httpStatusOf(rejection), { error: codeName(rejection.code).toLowerCase() });
    default:
      // Refusals seed B does not document: its shape, with the service's message.
      return answer(httpStatusOf(rejection), {
        error: rejection.reason.toLowerCase(),
        message: rejection.message,
      });
  }
}
