import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  encodeEnvelope,
  readAllBytes,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { invalidBody, normalizeFrameworkError } from "../rpc/error-mapping.js";
import { replaceHandler } from "./replace-handler.js";

/**
 * Makes errors that connect raises before a handler runs (undecodable body, oversized body,
 * unsupported content type) look like the service's own, in each protocol's own encoding.
 * connect has no hook for these (they happen before interceptors), so the response is rewritten.
 * Successful responses pass through untouched; only error paths do extra work.
 */
export function withFrameworkErrorsNormalized(handler: UniversalHandler): UniversalHandler {
  const normalized = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    const requestType = req.header.get("content-type") ?? "";
    if (res.status === 415) {
      const error = invalidBody(
        `unsupported content-type ${JSON.stringify(requestType)}: send application/json or application/proto (Connect), application/grpc or application/grpc-web`,
      );
      return errorResponse(requestType, error);
    }
    const responseType = res.header?.get("content-type") ?? "";
    if (responseType.startsWith("application/grpc-web")) {
      return { ...res, body: res.body && rewriteGrpcWebTrailer(res.body) };
    }
    if (responseType.startsWith("application/grpc")) {
      return { ...res, body: res.body && rewriteTrailerWhenDone(res.body, res.trailer) };
    }
    if (res.status !== 200 && res.body !== undefined) {
      return rewriteConnectError(res);
    }
    return res;
  };
  return replaceHandler(handler, normalized);
}

function normalizeTrailer(trailer: Headers): void {
  const error = findTrailerError(trailer);
  const normalized = error && normalizeFrameworkError(error);
  if (normalized) {
    for (const name of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
      trailer.delete(name);
    }
    setTrailerStatus(trailer, normalized);
  }
  const message = trailer.get("grpc-message");
  if (message !== null) {
    trailer.set("grpc-message", encodeGrpcMessage(decodeGrpcMessage(message)));
  }
}

/**
 * Percent-encodes grpc-message as the gRPC spec says: only `%` and bytes outside printable ASCII.
 * connect encodes with encodeURIComponent, which @grpc/grpc-js undoes with decodeURI, leaving
 * `%3B`, `%2C`, `%40` and the like in the message its callers read.
 */
function encodeGrpcMessage(message: string): string {
  return message.replace(/[^\x20-\x24\x26-\x7e]+/gu, (run) =>
    Array.from(
      Buffer.from(run, "utf8"),
      (byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`,
    ).join(""),
  );
}

function decodeGrpcMessage(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** gRPC: the status is in the trailer, which connect fills in once the body is done. */
function rewriteTrailerWhenDone(
  body: AsyncIterable<Uint8Array>,
  trailer: Headers | undefined,
): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      const it = body[Symbol.asyncIterator]();
      return {
        async next() {
          const result = await it.next();
          if (result.done === true && trailer !== undefined) {
            normalizeTrailer(trailer);
          }
          return result;
        },
        return: (value?: unknown) => it.return?.(value) ?? Promise.resolve({ done: true, value }),
        throw: (e?: unknown) => it.throw?.(e) ?? Promise.reject(e),
      };
    },
  };
}

/** gRPC-Web: the status travels in a final body envelope flagged as trailer. */
async function* rewriteGrpcWebTrailer(body: AsyncIterable<Uint8Array>) {
  for await (const chunk of body) {
    if (chunk.length >= 5 && (chunk[0] as number) & trailerFlag) {
      const trailer = trailerParse(chunk.subarray(5));
      normalizeTrailer(trailer);
      yield encodeEnvelope(trailerFlag, trailerSerialize(trailer));
    } else {
      yield chunk;
    }
  }
}

/** Connect unary: the error is a JSON body with an HTTP status. */
async function rewriteConnectError(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const bytes = await readAllBytes(res.body as AsyncIterable<Uint8Array>, Number.MAX_SAFE_INTEGER);
  const fallback = new ConnectError("", Code.Unknown);
  let normalized: ConnectError | undefined;
  try {
    normalized = normalizeFrameworkError(errorFromJsonBytes(bytes, undefined, fallback));
  } catch {
    normalized = undefined;
  }
  if (normalized === undefined) {
    return { ...res, body: createAsyncIterable([bytes]) };
  }
  return connectErrorResponse(normalized, res.header);
}

function connectErrorResponse(
  error: ConnectError,
  header = new Headers(),
): UniversalServerResponse {
  const body = errorToJsonBytes(error, {});
  header.set("content-type", "application/json");
  header.set("content-length", String(body.byteLength));
  error.metadata.forEach((value, key) => {
    header.set(key, value);
  });
  return { status: codeToHttpStatus(error.code), header, body: createAsyncIterable([body]) };
}

/** An error in the protocol the client asked for, judged by its content type. */
function errorResponse(requestType: string, error: ConnectError): UniversalServerResponse {
  if (requestType.startsWith("application/grpc-web")) {
    const trailer = setTrailerStatus(new Headers(), error);
    return {
      status: 200,
      header: new Headers({ "content-type": "application/grpc-web+proto" }),
      body: createAsyncIterable([encodeEnvelope(trailerFlag, trailerSerialize(trailer))]),
    };
  }
  if (requestType.startsWith("application/grpc")) {
    return {
      status: 200,
      header: new Headers({ "content-type": "application/grpc+proto" }),
      body: createAsyncIterable([]),
      trailer: setTrailerStatus(new Headers(), error),
    };
  }
  return connectErrorResponse(error);
}
