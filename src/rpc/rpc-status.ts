import {
  create,
  createRegistry,
  type DescMessage,
  type JsonObject,
  type MessageInitShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { type Status, StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { Rejection } from "./error-mapping.js";

// Resolves the google.rpc detail types inside a Status's `details` (Any) for JSON.
const detailRegistry = createRegistry(file_google_rpc_error_details);

/**
 * The one `google.rpc.Status` of a rejection: its code, message and details (ErrorInfo first).
 * Every door that writes a Status itself serialises this one: gRPC's `grpc-status-details-bin`
 * (statusBytesOf) and REST's error body (statusJsonOf). The connect door hands the same rejection
 * to connect, which builds the same message.
 */
export function statusOf(rejection: Pick<Rejection, "code" | "message" | "details">): Status {
  return create(StatusSchema, {
    code: rejection.code,
    message: rejection.message,
    details: rejection.details.map((detail) =>
      anyPack(detail.desc, create(detail.desc, detail.value as MessageInitShape<DescMessage>)),
    ),
  });
}

/** The rejection's Status in binary, as `grpc-status-details-bin` carries it. */
export function statusBytesOf(rejection: Pick<Rejection, "code" | "message" | "details">) {
  return toBinary(StatusSchema, statusOf(rejection));
}

/**
 * The rejection's Status as proto3 JSON with default values (`"details": []` included), each
 * detail with `@type` first, as google.rpc.Status JSON is usually read.
 */
export function statusJsonOf(
  rejection: Pick<Rejection, "code" | "message" | "details">,
): JsonObject {
  const json = toJson(StatusSchema, statusOf(rejection), {
    alwaysEmitImplicit: true,
    registry: detailRegistry,
  }) as { details: JsonObject[] };
  json.details = json.details.map(
    (detail) => ({ "@type": detail["@type"], ...detail }) as JsonObject,
  );
  return json;
}
