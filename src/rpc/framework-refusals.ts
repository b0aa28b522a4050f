import { Code, type ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/**
 * Requests a door refuses before any handler runs, named so that the error table answers them
 * like the service's own refusals. Transport-neutral: each door recognises them in its own way.
 */
export type FrameworkRefusal =
  /** The body could not be decoded (not JSON, not protobuf, a bad envelope). */
  | { readonly kind: "undecodable_body"; readonly description: string }
  /** The request's content type is not one any protocol of the door speaks. */
  | { readonly kind: "unsupported_content_type"; readonly description: string }
  /** The request message is over the size limit. */
  | { readonly kind: "message_too_large"; readonly description: string };

/** A framework refusal, thrown or handed to the refusal path like an OtpError. */
export class FrameworkRefusalError extends Error {
  override readonly name = "FrameworkRefusalError";

  constructor(
    readonly refusal: FrameworkRefusal,
    options?: { cause?: unknown },
  ) {
    super(refusal.description, options);
  }
}

/**
 * Names an error that connect raised before a handler ran, or undefined when it is not one of
 * the framework's refusals (a client's transport deadline, an internal error, an error
 * that already carries ErrorInfo). This is the only
 * code that knows connect's error strings; test/rpc/framework-refusals.test.ts pins each one, so
 * that an upgrade that changes them fails there.
 */
export function frameworkRefusalOf(error: ConnectError): FrameworkRefusalError | undefined {
  if (error.findDetails(ErrorInfoSchema).length > 0) {
    return undefined;
  }
  const undecodable =
    error.code === Code.InvalidArgument ||
    (error.code === Code.Internal && error.rawMessage.startsWith("parse binary")) ||
    // An envelope flagged compressed in a request that named no compression.
    (error.code === Code.Internal && error.rawMessage.startsWith("received compressed envelope")) ||
    // A unary gRPC or gRPC-Web request framing no message, or two.
    (error.code === Code.Unimplemented && error.rawMessage.includes("input message for unary"));
  if (undecodable) {
    return new FrameworkRefusalError(
      {
        kind: "undecodable_body",
        description: `the request body could not be decoded: ${error.rawMessage}`,
      },
      { cause: error },
    );
  }
  if (error.code === Code.ResourceExhausted) {
    return new FrameworkRefusalError(
      { kind: "message_too_large", description: `the request is too large: ${error.rawMessage}` },
      { cause: error },
    );
  }
  return undefined;
}

/** The refusal for a request whose content type no protocol of the door speaks. */
export function unsupportedContentType(contentType: string): FrameworkRefusalError {
  return new FrameworkRefusalError({
    kind: "unsupported_content_type",
    description: `unsupported content-type ${JSON.stringify(contentType)}: send application/json or application/proto (Connect), application/grpc or application/grpc-web`,
  });
}
