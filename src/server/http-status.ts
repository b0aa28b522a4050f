import { Code } from "@connectrpc/connect";
import type { Rejection } from "../rpc/error-mapping.js";
import { FrameworkRefusalError } from "../rpc/framework-refusals.js";

// As gateways map gRPC codes (grpc-gateway, google.api.http); SPEC.md "REST".
const HTTP_STATUS: Readonly<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/**
 * The HTTP status a REST door answers a rejection with: the gateway mapping of its gRPC code,
 * except where HTTP has a status of its own for a framework refusal: 413 for MESSAGE_TOO_LARGE
 * (waiting, as 429 suggests, does not help), 415 for a body of a content type the door does not
 * read (INVALID_ARGUMENT in the body), 405 for a path served for other methods.
 */
export function httpStatusOf(rejection: Pick<Rejection, "code" | "reason" | "cause">): number {
  if (rejection.reason === "MESSAGE_TOO_LARGE") {
    return 413;
  }
  if (rejection.cause instanceof FrameworkRefusalError) {
    switch (rejection.cause.refusal.kind) {
      case "unsupported_content_type":
      case "unsupported_encoding":
        return 415;
      case "method_not_allowed":
        return 405;
    }
  }
  return HTTP_STATUS[rejection.code] ?? 500;
}

/**
 * The gRPC codes a REST answer with HTTP `status` may carry: the inverse of httpStatusOf (for the
 * OpenAPI document's error answers).
 */
export function grpcCodesOf(status: number): Code[] {
  switch (status) {
    case 413:
      return [Code.ResourceExhausted];
    case 415:
      return [Code.InvalidArgument];
    case 405:
      return [Code.Unimplemented];
  }
  return Object.entries(HTTP_STATUS)
    .filter(([, each]) => each === status)
    .map(([code]) => Number(code) as Code);
}
