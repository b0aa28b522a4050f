import * as grpc from "@grpc/grpc-js";
import type { Rejection } from "../../rpc/error-mapping.js";
import { statusBytesOf } from "../../rpc/rpc-status.js";

const DETAILS_HEADER = "grpc-status-details-bin";

/**
 * A rejection as grpc-js sends it: code, message, its metadata (`retry-after`) as trailers and,
 * when it has details, the google.rpc.Status in `grpc-status-details-bin` — the bytes connect
 * sends on the main port (rpc-status.ts builds both).
 */
export function grpcStatusOf(rejection: Rejection): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(rejection.metadata)) {
    metadata.set(name, value);
  }
  if (rejection.details.length > 0) {
    metadata.set(DETAILS_HEADER, Buffer.from(statusBytesOf(rejection)));
  }
  return { code: rejection.code as number, details: rejection.message, metadata };
}
