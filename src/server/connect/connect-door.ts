import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type Interceptor,
} from "@connectrpc/connect";
import {
  createAsyncIterable,
  encodeEnvelope,
  readAllBytes,
  type UniversalHandler,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { type Call, callOf, contextValuesOf } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { codeName, connectErrorOf } from "../../rpc/error-mapping.js";
import { frameworkRefusalOf, unsupportedContentType } from "../../rpc/framework-refusals.js";
import { type HttpDoor, headerOf, type NodeRequest } from "../http-surface.js";

/** Largest request message accepted, in bytes; larger ones get MESSAGE_TOO_LARGE. */
export const MAX_REQUEST_BYTES = 64 * 1024;

// JSON must be UTF-8 (RFC 8259). connect's default decoder turns invalid bytes into U+FFFD, so a
// mangled address would be accepted; a fatal decoder makes it an undecodable body instead, as it
// already is in binary. connect hands `textDecoder` on to its JSON serialization although its
// option type does not declare it, hence a variable rather than a literal at the call.
const strictUtf8Json = {
  ignoreUnknownFields: true,
  textDecoder: new TextDecoder("utf-8", { fatal: true }),
};

const CANCELED = { code: "CANCELED" } as const;

/**
 * The connect door: serves the routes over gRPC, gRPC-Web and Connect (connect-node), as a thin
 * encoder around the call pipeline. Its three parts (see call-pipeline.ts): the call is started
 * by the HTTP surface and handed in; handler results and refusals pass through one interceptor
 * (the pipeline's refusal path, encoded as ConnectError); the call ends after the response's last
 * byte, or as CANCELED when the client goes away first.
 *
 * Errors connect raises before a handler runs (undecodable or oversized body, unsupported content
 * type) reach no interceptor: they are the only answers this door reads back, and only when no
 * handler recorded the call's outcome, to name them (framework-refusals.ts) and re-encode them in
 * the service's shape.
 */
export function createConnectDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
): HttpDoor {
  const router = createConnectRouter({
    readMaxBytes: MAX_REQUEST_BYTES,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: strictUtf8Json,
    interceptors: [pipelineInterceptor(pipeline)],
  });
  routes(router);
  const paths = new Map(
    router.handlers.map((handler) => [
      handler.requestPath,
      {
        method: `${handler.service.typeName}/${handler.method.name}`,
        protocolOf: (req: NodeRequest) => protocolOf(headerOf(req, "content-type")),
        serve: createServe(handler, pipeline),
      },
    ]),
  );
  return { route: (path) => paths.get(path) };
}

/**
 * The refusal path for connect: what a handler throws becomes the pipeline's Rejection, thrown as
 * the ConnectError connect encodes; success is recorded too, and the request's email noted for
 * the call's log line. Streams are followed to their end.
 */
function pipelineInterceptor(pipeline: CallPipeline): Interceptor {
  return (next) => async (req) => {
    const call = callOf(req.contextValues);
    if (call !== undefined && !req.stream) {
      const email: unknown = (req.message as { email?: unknown }).email;
      if (typeof email === "string") {
        call.email = email;
      }
    }
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      throw connectErrorOf(pipeline.refuse(call, error));
    }
    if (!res.stream) {
      pipeline.succeed(call);
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (error) {
          throw connectErrorOf(pipeline.refuse(call, error));
        }
        pipeline.succeed(call);
      })(),
    };
  };
}

function createServe(handler: UniversalHandler, pipeline: CallPipeline) {
  return (
    req: NodeRequest,
    res: Parameters<typeof universalResponseToNodeResponse>[1],
    call: Call,
  ) => {
    const values = contextValuesOf(call);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    // Content codings are case-insensitive (RFC 9110, 8.4.1); connect matches them exactly.
    const encoding = uReq.header.get("content-encoding");
    if (encoding !== null) {
      uReq.header.set("content-encoding", encoding.toLowerCase());
    }
    // A client that goes away (or a connection cut at shutdown) ends the call for the client
    // then, though the handler may run on; a call that finished first has ended already.
    uReq.signal.addEventListener("abort", () => pipeline.end(call, CANCELED), { once: true });
    const requestType = uReq.header.get("content-type") ?? "";
    handler(uReq)
      .then(
        (uRes) => encode(uRes, requestType, call, pipeline),
        (error: unknown) => {
          pipeline.end(call, { code: codeName(ConnectError.from(error).code) });
          throw error;
        },
      )
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away or the write failed; there is nobody left to answer.
        if (ConnectError.from(reason).code !== Code.Aborted) {
          res.destroy();
        }
      });
  };
}

/** connect's response, with framework refusals in the service's shape, ending `call` when done. */
async function encode(
  res: UniversalServerResponse,
  requestType: string,
  call: Call,
  pipeline: CallPipeline,
): Promise<UniversalServerResponse> {
  if (res.status === 415) {
    const error = connectErrorOf(pipeline.refuse(call, unsupportedContentType(requestType)));
    return endAfterBody(errorResponse(requestType, error), call, pipeline);
  }
  const responseType = res.header?.get("content-type") ?? "";
  if (responseType.startsWith("application/grpc-web")) {
    return endAfterBody(
      { ...res, body: res.body && grpcWebTrailerFixed(res.body, call, pipeline) },
      call,
      pipeline,
    );
  }
  if (responseType.startsWith("application/grpc")) {
    return endAfterBody(res, call, pipeline, () => {
      if (res.trailer !== undefined) {
        fixTrailer(res.trailer, call, pipeline);
      }
    });
  }
  if (res.status !== 200 && res.body !== undefined && call.outcome === undefined) {
    return endAfterBody(await connectErrorFixed(res, call, pipeline), call, pipeline);
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
          pipeline.end(call, CANCELED);
        }
      }
    })(),
  };
}

/**
 * A gRPC trailer as the service sends it: a framework refusal connect wrote is rewritten through
 * the refusal path (only when no handler recorded the outcome), and grpc-message is re-encoded.
 */
function fixTrailer(trailer: Headers, call: Call, pipeline: CallPipeline): void {
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
async function* grpcWebTrailerFixed(
  body: AsyncIterable<Uint8Array>,
  call: Call,
  pipeline: CallPipeline,
) {
  for await (const chunk of body) {
    const isTrailer = chunk.length >= 5 && (chunk[0] as number) & trailerFlag;
    if (isTrailer && call.outcome?.code !== "OK") {
      const trailer = trailerParse(chunk.subarray(5));
      fixTrailer(trailer, call, pipeline);
      yield encodeEnvelope(trailerFlag, trailerSerialize(trailer));
    } else {
      yield chunk;
    }
  }
}

/** Connect unary: the error is a JSON body with an HTTP status; read only when no handler ran. */
async function connectErrorFixed(
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
  const refusal = frameworkRefusalOf(error);
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
function protocolOf(contentType: string | null): "grpc" | "grpc-web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) {
    return "grpc-web";
  }
  if (contentType?.startsWith("application/grpc")) {
    return "grpc";
  }
  return "connect";
}
