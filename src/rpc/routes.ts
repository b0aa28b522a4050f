import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/auth/v1/admin_pb.js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { createHealthHandlers, type HealthSource } from "./health.js";
import { registerReflection } from "./reflection.js";

export interface RoutesOptions {
  /** The serving state that grpc.health.v1.Health reports for the server and each service. */
  readonly health: HealthSource;
  /** The AdminService handlers (createAdminHandlers). */
  readonly admin: ServiceImpl<typeof AdminService>;
}

/** The API's services, as health lists them (beside the server's own name, ""). */
export const API_SERVICE_NAMES = [AuthService.typeName, AdminService.typeName] as const;

/**
 * Registers AuthService (`auth`, from createAuthHandlers), AdminService (`options.admin`),
 * grpc.health.v1.Health and server reflection (v1 and v1alpha, describing all of these) on a
 * router; the single registration point of the RPC layer. Refusals, the call's context and
 * observation are the door's pipeline's (call-pipeline.ts), not the routes'.
 */
export function createRoutes(auth: ServiceImpl<typeof AuthService>, options: RoutesOptions) {
  return (router: ConnectRouter) => {
    router.service(AuthService, auth);
    router.service(AdminService, options.admin);
    router.service(Health, createHealthHandlers(options.health, API_SERVICE_NAMES));
    // Error details are not imported by auth.proto; described too, so clients can decode them.
    registerReflection(router, { extraFiles: [file_google_rpc_error_details] });
  };
}
