// The service's RPCs, and the same-stack no-op, as plain functions over one transport: what the
// benchmark and the profiler call.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetStatusRequestSchema,
  RequestOtpRequestSchema,
  RequestOtpResponseSchema,
  VerifyOtpRequestSchema,
  VerifyOtpResponseSchema,
} from "../../gen/auth/v1/auth_pb.js";
import { createConnectCaller, createGrpcCaller, createJsonCaller } from "./load-clients.js";

/**
 * gRPC on the main port (connect-node), gRPC on GRPC_PORT (grpc-js's server), Connect JSON, and
 * REST (the google.api.http routes on the main port, src/server/rest-door.ts).
 */
export const TRANSPORTS = ["grpc", "grpc-port", "connect", "rest"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** `names` (comma-separated) as transports; throws naming `field` and the unknown name. */
export function transportsOf(names: string, field: string): Transport[] {
  return names.split(",").map((raw) => {
    const name = raw.trim();
    if (!(TRANSPORTS as readonly string[]).includes(name)) {
      throw new Error(`${field}: unknown transport "${name}" (known: ${TRANSPORTS.join(", ")})`);
    }
    return name as Transport;
  });
}

const PATHS = {
  noop: "/grpc.health.v1.Health/Check",
  getStatus: "/auth.v1.AuthService/GetStatus",
  requestOtp: "/auth.v1.AuthService/RequestOtp",
  verifyOtp: "/auth.v1.AuthService/VerifyOtp",
};

/** The REST routes of the three RPCs (proto/auth/v1/auth.proto's google.api.http rules). */
const REST_PATHS = {
  getStatus: "/auth/status",
  requestOtp: "/auth/request-otp",
  verifyOtp: "/auth/verify-otp",
};

/** The three RPCs (and the no-op) over one transport, with plain inputs and outputs. */
export function rpcs(transport: Transport, port: number, concurrency: number) {
  if (transport === "grpc" || transport === "grpc-port") {
    const { call, close } = createGrpcCaller(port, Math.ceil(concurrency / 64));
    return {
      close,
      noop: () => call(PATHS.noop, new Uint8Array(0)),
      getStatus: (email: string) =>
        call(
          PATHS.getStatus,
          toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema, { email })),
        ),
      requestOtp: async (email: string) =>
        fromBinary(
          RequestOtpResponseSchema,
          await call(
            PATHS.requestOtp,
            toBinary(RequestOtpRequestSchema, create(RequestOtpRequestSchema, { email })),
          ),
        ).otpId,
      verifyOtp: async (email: string, otp: string, otpId = "") =>
        fromBinary(
          VerifyOtpResponseSchema,
          await call(
            PATHS.verifyOtp,
            toBinary(VerifyOtpRequestSchema, create(VerifyOtpRequestSchema, { email, otp, otpId })),
          ),
        ).authenticated,
    };
  }
  if (transport === "rest") {
    // The health Check has no REST route: the no-op is Connect JSON's, the same as the connect
    // transport's, sent over the same keep-alive connections as the REST calls.
    const { call, close } = createJsonCaller(port, concurrency);
    return {
      close,
      noop: () => call("POST", PATHS.noop, {}),
      getStatus: (email: string) =>
        call("GET", `${REST_PATHS.getStatus}?email=${encodeURIComponent(email)}`),
      requestOtp: async (email: string) =>
        (await call("POST", REST_PATHS.requestOtp, { email })).otpId as string,
      verifyOtp: async (email: string, otp: string, otpId?: string) =>
        (await call("POST", REST_PATHS.verifyOtp, { email, otp, ...(otpId ? { otpId } : {}) }))
          .authenticated === true,
    };
  }
  const { call, close } = createConnectCaller(port, concurrency);
  return {
    close,
    noop: () => call(PATHS.noop, {}),
    getStatus: (email: string) => call(PATHS.getStatus, { email }),
    requestOtp: async (email: string) => (await call(PATHS.requestOtp, { email })).otpId as string,
    verifyOtp: async (email: string, otp: string, otpId?: string) =>
      (await call(PATHS.verifyOtp, { email, otp, ...(otpId ? { otpId } : {}) })).authenticated ===
      true,
  };
}
