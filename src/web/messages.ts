import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
// The same wording for waits as the service's own error messages.
import { describeWait } from "../domain/errors.js";

/**
 * What to tell a person whose call failed, from the error's ErrorInfo reason (SPEC.md's error
 * table) and, for limits, how long to wait: RetryInfo, else the `retry-after` header. Never
 * throws; an error it does not know gets a generic message.
 */
export function describeError(reason: unknown): string {
  const error = ConnectError.from(reason);
  const info = error.findDetails(ErrorInfoSchema)[0];
  const later = (lead: string) => {
    const seconds = retryAfterSeconds(error);
    return `${lead} — try again ${seconds === undefined ? "later" : `in ${describeWait(seconds * 1000)}`}.`;
  };
  switch (info?.reason) {
    case "OTP_REQUEST_LIMIT":
      return later("Too many codes were requested for this email");
    case "IP_REQUEST_LIMIT":
      return later("Too many codes were requested from your network");
    case "OTP_LOCKED":
      // A code whose attempts are spent is dead; waiting does not bring it back.
      return info.metadata.lock_scope === "code"
        ? "Too many wrong codes — send a new code."
        : later("Too many wrong codes");
    case "OTP_MISMATCH":
      return `That code is not right — ${attemptsLeft(info.metadata.attempts_remaining)}.`;
    case "OTP_EXPIRED":
      return "That code has expired — send a new one.";
    case "OTP_ALREADY_USED":
      return "That code has already been used — send a new one.";
    case "OTP_NOT_FOUND":
      return "There is no code for this email yet — send one first.";
    case "INVALID_ARGUMENT":
      return invalidField(error, info.metadata.field);
    case "DELIVERY_FAILED":
      return "The code could not be sent — try again in a moment.";
    case "STORAGE_UNAVAILABLE":
      return "The service is unavailable — try again in a moment.";
  }
  switch (error.code) {
    case Code.ResourceExhausted:
      return later("Too many attempts");
    case Code.Unavailable:
      return "The service is unavailable — try again in a moment.";
    case Code.DeadlineExceeded:
      return "The service took too long to answer — try again.";
    default:
      return "Something went wrong — try again.";
  }
}

function retryAfterSeconds(error: ConnectError): number | undefined {
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (delay !== undefined) {
    return Number(delay.seconds) + delay.nanos / 1e9;
  }
  // Cross-origin, this header is readable only because the service exposes it through CORS.
  const header = Number(error.metadata.get("retry-after") ?? Number.NaN);
  return Number.isFinite(header) && header > 0 ? header : undefined;
}

function attemptsLeft(remaining: string | undefined): string {
  const count = Number(remaining);
  return Number.isInteger(count) && count > 0
    ? `${plural(count, "attempt")} left`
    : "check it and try again";
}

function invalidField(error: ConnectError, field: string | undefined): string {
  const named = field ?? error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;
  switch (named) {
    case "email":
      return "Enter a valid email address.";
    case "otp":
      return "Enter the code from the message, digits only.";
    default:
      return "The request was not accepted — reload the page and try again.";
  }
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}
