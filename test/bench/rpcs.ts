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
import { createConnectCaller, createGrpcCaller } from "./load-clients.js";

/** gRPC on the main port (connect-node), gRPC on GRPC_PORT (grpc-js's server), Connect JSON. */
export type Transport = "grpc" | "grpc-port" | "connect";

const PATHS = {
  noop: "/grpc.health.v1.Health/Check",
  getStatus: "/auth.v1.AuthService/GetStatus",
  requestOtp: "/auth.v1.AuthService/RequestOtp",
  verifyOtp: "/auth.v1.AuthService/VerifyOtp",
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
      verifyOtp: async (email: string, otp: string) =>
        fromBinary(
          VerifyOtpResponseSchema,
          await call(
            PATHS.verifyOtp,
            toBinary(VerifyOtpRequestSchema, create(VerifyOtpRequestSchema, { email, otp })),
          ),
        ).authenticated,
    };
  }
  const { call, close } = createConnectCaller(port, concurrency);
  return {
    close,
    noop: () => call(PATHS.noop, {}),
    getStatus: (email: string) => call(PATHS.getStatus, { email }),
    requestOtp: async (email: string) => (await call(PATHS.requestOtp, { email })).otpId as string,
    verifyOtp: async (email: string, otp: string) =>
      (await call(PATHS.verifyOtp, { email, otp })).authenticated === true,
  };
}
