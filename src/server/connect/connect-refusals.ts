import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  encodeEnvelope,
  readAllBytes,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { Call } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { connectErrorOf } from "../../rpc/error-mapping.js";
import {
  frameworkRefusalOf,
  methodNotAllowed,
  unsupportedContentType,
  unsupportedEncodingOf,
} from "../../rpc/framework-refusals.js";

/** What the request asked for, as connect's refusals of it need it. */
export interface AskedFor {
  readonly contentType: string;
  readonly method: string;
  readonly path: string;
  readonly allowedMethods: readonly string[];
}

const ACCEPTED_TYPES =
  "application/json or application/proto (Connect), application/grpc or application/grpc-web";

/**
 * connect's answer to `call`, with the refusals connect wrote itself (before any handler ran) in
 * the service's shape: read back from the answer in its protocol's wire, named from the catalogue
 * (frameworkRefusalOf), passed through the refusal path and written again. Ends `call` after the
 * answer's last byte, or cancels it when the answer is abandoned first.
 */
export async function withServiceRefusals(
  res: UniversalServerResponse,
  asked: AskedFor,
  call: Call,
  pipeline: CallPipeline,
): Promise<UniversalServerResponse> {
  const requestType = asked.contentType;
  if (res.status === 415) {
    const refusal = unsupportedContentType(requestType, ACCEPTED_TYPES);
    const error = connectErrorOf(pipeline.refuse(call, refusal));
    return endAfterBody(errorResponse(requestType, error), call, pipeline);
  }
  if (res.status === 405) {
    // connect answers a method no protocol takes with a bare 405: the catalogue's refusal, in the
    // Connect error shape (whatever the content type, the request was no gRPC call), with Allow.
    const refusal = methodNotAllowed(asked.method, asked.path, asked.allowedMethods);
    const rejection = pipeline.refuse(call, refusal);
    const answer = connectErrorResponse(connectErrorOf(rejection));
    return endAfterBody({ ...answer, status: 405 }, call, pipeline);
  }
  const responseType = res.header?.get("content-type") ?? "";
  if (responseType.startsWith("application/grpc-web")) {
    return endAfterBody(
      { ...res, body: res.body && withGrpcWebTrailerRewritten(res.body, call, pipeline) },
      call,
      pipeline,
    );
  }
  if (responseType.startsWith("application/grpc")) {
    return endAfterBody(res, call, pipeline, () => {
      if (res.trailer !== undefined) {
        rewriteTrailer(res.trailer, call, pipeline);
      }
    });
  }
  if (res.status !== 200 && res.body !== undefined && call.outcome === undefined) {
    return endAfterBody(await withConnectErrorRewritten(res, call, pipeline), call, pipeline);
  }
  return endAfterBody(res, call, pipeline);
}

/**
 * Ends `call` once the body has been read to its end (after `beforeEnd`), or as CANCELED when it
 * is abandoned first (the client went away).
 */
function endAfterBody(
  res: UniversalServerResponse,
  call: Call,
  pipeline: CallPipeline,
  beforeEnd: () => void = () => {},
): UniversalServerResponse {
  const end = () => {
    beforeEnd();
    pipeline.end(call);
  };
  if (res.body === undefined) {
    end();
    return res;
  }
  const body = res.body;
  return {
    ...res,
    body: (async function* () {
      let ended = false;
      try {
        yield* body;
        end();
        ended = true;
      } finally {
        if (!ended) {
          pipeline.cancel(call);
        }
      }
    })(),
  };
}

/**
 * A gRPC trailer as the service sends it: a framework refusal connect wrote is rewritten through
 * the refusal path (only when no handler recorded the outcome), and grpc-message is re-encoded.
 */
function rewriteTrailer(trailer: Headers, call: Call, pipeline: CallPipeline): void {
  if (call.outcome === undefined) {
    const error = findTrailerError(trailer);
    if (error === undefined) {
      pipeline.succeed(call);
    } else {
      const refusal = frameworkRefusalOf(error);
      const rejection = pipeline.refuse(call, refusal ?? error);
      if (refusal !== undefined) {
        for (const name of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
          trailer.delete(name);
        }
        setTrailerStatus(trailer, connectErrorOf(rejection));
      }
    }
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

/** gRPC-Web: the status travels in a final body envelope flagged as trailer. */
async function* withGrpcWebTrailerRewritten(
  body: AsyncIterable<Uint8Array>,
  call: Call,
  pipeline: CallPipeline,
) {
  for await (const chunk of body) {
    const isTrailer = chunk.length >= 5 && (chunk[0] as number) & trailerFlag;
    if (isTrailer && call.outcome?.code !== "OK") {
      const trailer = trailerParse(chunk.subarray(5));
      rewriteTrailer(trailer, call, pipeline);
      yield encodeEnvelope(trailerFlag, trailerSerialize(trailer));
    } else {
      yield chunk;
    }
  }
}

/** Connect unary: the error is a JSON body with an HTTP status; read only when no handler ran. */
async function withConnectErrorRewritten(
  res: UniversalServerResponse,
  call: Call,
  pipeline: CallPipeline,
): Promise<UniversalServerResponse> {
  const bytes = await readAllBytes(res.body as AsyncIterable<Uint8Array>, Number.MAX_SAFE_INTEGER);
  const fallback = new ConnectError("", Code.Unknown);
  let error: ConnectError;
  try {
    error = errorFromJsonBytes(bytes, undefined, fallback);
  } catch {
    error = fallback;
  }
  const refusal = frameworkRefusalOf(error) ?? unsupportedEncodingOf(error);
  const rejection = pipeline.refuse(call, refusal ?? error);
  if (refusal === undefined) {
    return { ...res, body: createAsyncIterable([bytes]) };
  }
  return connectErrorResponse(connectErrorOf(rejection), res.header);
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
  switch (protocolOf(requestType)) {
    case "grpc-web":
      return {
        status: 200,
        header: new Headers({ "content-type": "application/grpc-web+proto" }),
        body: createAsyncIterable([
          encodeEnvelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(), error))),
        ]),
      };
    case "grpc":
      return {
        status: 200,
        header: new Headers({ "content-type": "application/grpc+proto" }),
        body: createAsyncIterable([]),
        trailer: setTrailerStatus(new Headers(), error),
      };
    case "connect":
      return connectErrorResponse(error);
  }
}

/** The protocol a request speaks, by its content type, as connect tells them apart. */
export function protocolOf(contentType: string | null): "grpc" | "grpc-web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) {
    return "grpc-web";
  }
  if (contentType?.startsWith("application/grpc")) {
    return "grpc";
  }
  return "connect";
}
