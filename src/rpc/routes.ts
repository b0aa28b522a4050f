import { ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { OtpError } from "../domain/errors.js";
import type { OtpService } from "../domain/otp-service.js";
import { callOf } from "./call-context.js";
import { createAuthHandlers } from "./auth-handlers.js";
import type { ClientAddressResolver } from "./client-address.js";
import { toConnectError } from "./error-mapping.js";
import { createHealthHandlers, type HealthSource } from "./health.js";
import { registerReflection } from "./reflection.js";

export interface RoutesOptions {
  readonly resolveClientAddress: ClientAddressResolver;
  /**
   * Told about every error that becomes INTERNAL, with its cause and the call's request id; the
   * client sees no detail.
   */
  readonly onInternalError: (procedure: string, error: unknown, requestId?: string) => void;
  /**
   * Told why code `otpId` could not be delivered (the client only hears DELIVERY_FAILED), with
   * the call's request id.
   */
  readonly onDeliveryFailed?: (otpId: string, cause: unknown, requestId?: string) => void;
  /** The serving state that grpc.health.v1.Health reports for the server and AuthService. */
  readonly health: HealthSource;
  /** Run on every AuthService call before the error mapping (observability, for one). */
  readonly interceptors?: readonly Interceptor[];
}

/**
 * Registers AuthService, grpc.health.v1.Health and server reflection (v1 and v1alpha, describing
 * all of these) on a router; the single registration point of the RPC layer.
 */
export function createRoutes(service: OtpService, options: RoutesOptions) {
  const mapErrors: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      const requestId = callOf(req.contextValues)?.requestId;
      if (error instanceof OtpError) {
        if (error.refusal.kind === "delivery_failed") {
          options.onDeliveryFailed?.(error.refusal.otpId, error.cause, requestId);
        }
        throw toConnectError(error);
      }
      if (!(error instanceof ConnectError)) {
        // connect answers this as INTERNAL without detail; keep the cause for operators.
        options.onInternalError(req.method.name, error, requestId);
      }
      throw error;
    }
  };
  return (router: ConnectRouter) => {
    router.service(AuthService, createAuthHandlers(service, options.resolveClientAddress), {
      interceptors: [...(options.interceptors ?? []), mapErrors],
    });
    router.service(Health, createHealthHandlers(options.health, [AuthService.typeName]));
    // Error details are not imported by auth.proto; described too, so clients can decode them.
    registerReflection(router, { extraFiles: [file_google_rpc_error_details] });
  };
}
