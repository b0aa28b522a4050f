import { Code, ConnectError, createContextKey, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { lockedError, OtpError } from "../../src/domain/errors.js";
import { callOf, contextValuesOf } from "../../src/rpc/call-context.js";
import { createCallPipeline } from "../../src/rpc/call-pipeline.js";
import { createClientAddressResolver } from "../../src/rpc/client-address.js";
import { connectErrorOf } from "../../src/rpc/error-mapping.js";
import { FrameworkRefusalError } from "../../src/rpc/framework-refusals.js";
import { httpStatusOf } from "../../src/server/http-status.js";

function pipeline(trustProxy: string[] = []) {
  const internal: [string, unknown, string | undefined][] = [];
  const deliveries: [string, unknown, string | undefined][] = [];
  const ended: [string, string, string | undefined][] = [];
  const p = createCallPipeline({
    resolveClientAddress: createClientAddressResolver(trustProxy),
    observer: {
      callEnded: (call, outcome) => ended.push([call.requestId, outcome.code, outcome.reason]),
    },
    onInternalError: (method, error, requestId) => internal.push([method, error, requestId]),
    onDeliveryFailed: (otpId, cause, requestId) => deliveries.push([otpId, cause, requestId]),
  });
  return { p, internal, deliveries, ended };
}

const edge = {
  method: "auth.v1.AuthService/RequestOtp",
  protocol: "connect",
  peerAddress: "::ffff:10.0.0.7",
  forwardedFor: "203.0.113.9",
  requestId: "req-1",
};

describe("the call being served", () => {
  it("is found in the context values of its request, and only there", () => {
    const { p } = pipeline();
    const values = contextValuesOf(p.start(edge));
    expect(callOf(values)?.requestId).toBe("req-1");
    // They are connect's context values in every other way.
    const other = createContextKey("default");
    expect(values.get(other)).toBe("default");
    expect(values.set(other, "set").get(other)).toBe("set");
    expect(values.delete(other).get(other)).toBe("default");
    expect(callOf(createContextValues())).toBeUndefined();
    expect(callOf(undefined)).toBeUndefined();
  });

  it("resolves the client address once, at the start, under TRUST_PROXY", () => {
    expect(pipeline().p.start(edge).clientAddress).toBe("10.0.0.7");
    expect(pipeline(["10.0.0.0/8"]).p.start(edge).clientAddress).toBe("203.0.113.9");
  });

  it("gives a call without a usable x-request-id a fresh one", () => {
    const call = pipeline().p.start({ ...edge, requestId: "two words" });
    expect(call.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("the refusal path", () => {
  it("answers a domain refusal by the error table and records the outcome once", () => {
    const { p, internal, ended } = pipeline();
    const call = p.start(edge);
    const rejection = p.refuse(call, lockedError(90_500, "unbound"));
    expect(rejection).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "OTP_LOCKED",
      metadata: { "retry-after": "91" },
    });
    p.end(call);
    p.cancel(call);
    expect(ended).toEqual([["req-1", "RESOURCE_EXHAUSTED", "OTP_LOCKED"]]);
    expect(internal).toEqual([]);
  });

  it("logs a delivery failure's cause once, with the request id", () => {
    const { p, deliveries, internal } = pipeline();
    const cause = new Error("smtp 554");
    const error = new OtpError({ kind: "delivery_failed", otpId: "otp-1" }, "not delivered", {
      cause,
    });
    expect(p.refuse(p.start(edge), error).reason).toBe("DELIVERY_FAILED");
    expect(deliveries).toEqual([["otp-1", cause, "req-1"]]);
    expect(internal).toEqual([]);
  });

  it("answers anything unexpected as INTERNAL without its message, and reports the cause", () => {
    const { p, internal } = pipeline();
    const bug = new TypeError("x is undefined");
    const rejection = p.refuse(p.start(edge), bug);
    expect(rejection).toMatchObject({ code: Code.Internal, message: "internal error" });
    expect(rejection.details).toEqual([]);
    expect(internal).toEqual([["RequestOtp", bug, "req-1"]]);
    expect(connectErrorOf(rejection).cause).toBe(bug);
  });

  it("passes a ConnectError on as it is, without logging it", () => {
    const { p, internal } = pipeline();
    const deadline = new ConnectError("deadline", Code.DeadlineExceeded);
    expect(connectErrorOf(p.refuse(p.start(edge), deadline))).toBe(deadline);
    expect(internal).toEqual([]);
  });

  it("answers a framework refusal in the service's shape", () => {
    const { p } = pipeline();
    const tooLarge = new FrameworkRefusalError({
      kind: "message_too_large",
      description: "too large",
    });
    const error = connectErrorOf(p.refuse(p.start(edge), tooLarge));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.findDetails(ErrorInfoSchema).map((info) => info.reason)).toEqual([
      "MESSAGE_TOO_LARGE",
    ]);
  });
});

describe("the HTTP status of a rejection (REST)", () => {
  it.each([
    [Code.InvalidArgument, "INVALID_ARGUMENT", 400],
    [Code.FailedPrecondition, "OTP_ALREADY_USED", 400],
    [Code.Unauthenticated, "OTP_MISMATCH", 401],
    [Code.NotFound, "OTP_NOT_FOUND", 404],
    [Code.ResourceExhausted, "OTP_REQUEST_LIMIT", 429],
    [Code.ResourceExhausted, "MESSAGE_TOO_LARGE", 413],
    [Code.DeadlineExceeded, "OTP_EXPIRED", 504],
    [Code.DeadlineExceeded, undefined, 504],
    [Code.Unavailable, "STORAGE_UNAVAILABLE", 503],
    [Code.Internal, undefined, 500],
  ])("%s with reason %s is %i", (code, reason, status) => {
    expect(httpStatusOf({ code, reason })).toBe(status);
  });
});
