import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { invalidArgument, lockedError, OtpError, type Refusal } from "../../src/domain/errors.js";
import { toConnectError } from "../../src/rpc/error-mapping.js";
import { describeError } from "../../src/web/messages.js";

// What the login page tells a person, for the errors the service really sends (the one error
// mapping builds them); browser-login.test.ts sees some of them arrive over the wire.

function refused(refusal: Refusal) {
  return toConnectError(new OtpError(refusal, "refused"));
}

describe("the login page's messages", () => {
  it.each([
    [
      { kind: "request_limit", retryAfterMs: 3_600_000 },
      "Too many codes were requested for this email — try again in 60 minutes.",
    ],
    [
      { kind: "ip_limit", retryAfterMs: 45_000 },
      "Too many codes were requested from your network — try again in 45 seconds.",
    ],
    [{ kind: "mismatch", attemptsRemaining: 2 }, "That code is not right — 2 attempts left."],
    [{ kind: "mismatch", attemptsRemaining: 1 }, "That code is not right — 1 attempt left."],
    [{ kind: "expired" }, "That code has expired — send a new one."],
    [{ kind: "already_used" }, "That code has already been used — send a new one."],
    [{ kind: "not_found" }, "There is no code for this email yet — send one first."],
    [{ kind: "delivery_failed" }, "The code could not be sent — try again in a moment."],
    [{ kind: "storage_unavailable" }, "The service is unavailable — try again in a moment."],
  ] as [Refusal, string][])("%j reads %j", (refusal, message) => {
    expect(describeError(refused(refusal))).toBe(message);
  });

  it("says how long a lock lasts, or to send a new code when the code itself is spent", () => {
    expect(describeError(toConnectError(lockedError(600_000, "unbound")))).toBe(
      "Too many wrong codes — try again in 10 minutes.",
    );
    expect(describeError(toConnectError(lockedError(3 * 3_600_000, "account")))).toBe(
      "Too many wrong codes — try again in 3 hours.",
    );
    expect(describeError(toConnectError(lockedError(240_000, "code")))).toBe(
      "Too many wrong codes — send a new code.",
    );
  });

  it("names the field to fix", () => {
    expect(describeError(toConnectError(invalidArgument("email", "bad")))).toBe(
      "Enter a valid email address.",
    );
    expect(describeError(toConnectError(invalidArgument("otp", "bad")))).toBe(
      "Enter the code from the message, digits only.",
    );
  });

  it("falls back to retry-after when an error has no RetryInfo", () => {
    const error = new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "120" });
    expect(describeError(error)).toBe("Too many attempts — try again in 2 minutes.");
  });

  it("has a plain message for errors it does not know, such as a network failure", () => {
    expect(describeError(new TypeError("Failed to fetch"))).toBe(
      "Something went wrong — try again.",
    );
    expect(describeError(new ConnectError("down", Code.Unavailable))).toBe(
      "The service is unavailable — try again in a moment.",
    );
  });
});
