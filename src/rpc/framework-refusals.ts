import { Code, type ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/**
 * Requests a door refuses before any handler runs, named so that the error table answers them
 * like the service's own refusals. Transport-neutral: this file is the one catalogue of them, and
 * every door builds its refusals with the functions below rather than wording its own.
 */
export type FrameworkRefusal =
  /** The body could not be decoded (not JSON, not protobuf, a bad envelope). */
  | { readonly kind: "undecodable_body"; readonly description: string }
  /** The request's content type is not one any protocol of the door speaks. */
  | { readonly kind: "unsupported_content_type"; readonly description: string }
  /** The body is compressed with a content coding the door does not decode. */
  | { readonly kind: "unsupported_encoding"; readonly description: string }
  /** The request message is over the size limit. */
  | { readonly kind: "message_too_large"; readonly description: string }
  /**
   * A URL parameter (REST query parameter or path variable, named by `field` as the client wrote
   * it) that names no request field, names a secret, or holds a value its field cannot take.
   */
  | { readonly kind: "invalid_parameter"; readonly field: string; readonly description: string }
  /** No route at the request's path, for any HTTP method. */
  | { readonly kind: "route_not_found"; readonly description: string }
  /** Routes at the request's path, but none for its HTTP method; `allowed` lists theirs. */
  | {
      readonly kind: "method_not_allowed";
      readonly allowed: readonly string[];
      readonly description: string;
    };

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

/** The request body could not be decoded; `reason` (by default `cause`'s message) says why. */
export function undecodableBody(
  cause: unknown,
  reason = cause instanceof Error ? cause.message : String(cause),
): FrameworkRefusalError {
  return new FrameworkRefusalError(
    { kind: "undecodable_body", description: `the request body could not be decoded: ${reason}` },
    { cause },
  );
}

/** The request is over the size limit; `detail` is the refusing layer's own words. */
export function messageTooLarge(detail: string, cause?: unknown): FrameworkRefusalError {
  return new FrameworkRefusalError(
    { kind: "message_too_large", description: `the request is too large: ${detail}` },
    { cause },
  );
}

/** No protocol of the door reads `contentType`; `accepted` says what to send instead. */
export function unsupportedContentType(
  contentType: string | null,
  accepted: string,
): FrameworkRefusalError {
  return new FrameworkRefusalError({
    kind: "unsupported_content_type",
    description: `unsupported content-type ${JSON.stringify(contentType ?? "")}: send ${accepted}`,
  });
}

/**
 * A body compressed with a content coding the door does not decode, named from connect's refusal
 * (`unknown compression "deflate": supported encodings are gzip,br`) when `error` is one.
 * Only the Connect protocol's answer is renamed: gRPC specifies UNIMPLEMENTED for it (with
 * grpc-accept-encoding), while Connect would answer an HTTP 501 for a client's mistake.
 */
export function unsupportedEncodingOf(error: ConnectError): FrameworkRefusalError | undefined {
  if (error.code !== Code.Unimplemented || !error.rawMessage.startsWith("unknown compression")) {
    return undefined;
  }
  return new FrameworkRefusalError(
    {
      kind: "unsupported_encoding",
      description: `the request body could not be decoded: ${error.rawMessage}`,
    },
    { cause: error },
  );
}

/** A URL parameter `field` (as the client wrote it) that the request cannot take. */
export function invalidParameter(field: string, description: string): FrameworkRefusalError {
  return new FrameworkRefusalError({ kind: "invalid_parameter", field, description });
}

/** Nothing is served at `path`. */
export function routeNotFound(httpMethod: string, path: string): FrameworkRefusalError {
  return new FrameworkRefusalError({
    kind: "route_not_found",
    description: `no route for ${httpMethod} ${path}`,
  });
}

/** `path` is served for the `allowed` HTTP methods, not for `httpMethod`. */
export function methodNotAllowed(
  httpMethod: string,
  path: string,
  allowed: readonly string[],
): FrameworkRefusalError {
  return new FrameworkRefusalError({
    kind: "method_not_allowed",
    allowed,
    description: `${httpMethod} is not allowed at ${path}: use ${allowed.join(", ")}`,
  });
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
    return undecodableBody(error, error.rawMessage);
  }
  if (error.code === Code.ResourceExhausted) {
    return messageTooLarge(error.rawMessage, error);
  }
  return undefined;
}
