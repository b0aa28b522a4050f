import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type Interceptor,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { ServeLimits } from "../../config/serve-limits.js";
import { type Call, callOf, contextValuesOf } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { connectErrorOf } from "../../rpc/error-mapping.js";
import { type HttpDoor, headerOf, type NodeRequest } from "../http-surface.js";
import { utf8JsonTypeOf } from "../json-body.js";
import { protocolOf, withServiceRefusals } from "./connect-refusals.js";

// JSON must be UTF-8 (RFC 8259). connect's default decoder turns invalid bytes into U+FFFD, so a
// mangled address would be accepted; a fatal decoder makes it an undecodable body instead, as it
// already is in binary. connect hands `textDecoder` on to its JSON serialization although its
// option type does not declare it, hence a variable rather than a literal at the call.
const strictUtf8Json = {
  ignoreUnknownFields: true,
  textDecoder: new TextDecoder("utf-8", { fatal: true }),
};

/**
 * The connect door: serves the routes over gRPC, gRPC-Web and Connect (connect-node). Its wire,
 * around the call pipeline (see call-pipeline.ts): the call is started by the HTTP surface and
 * handed in; connect decodes the request and calls one interceptor, which hands the handler to
 * pipeline.invoke and throws a rejection as the ConnectError connect encodes; the call ends after
 * the response's last byte, or as CANCELED when the client goes away first.
 *
 * Errors connect raises before a handler runs (undecodable or oversized body, unsupported content
 * type) reach no interceptor: connect-refusals.ts reads them back from connect's answer, names
 * them from the catalogue and re-encodes them in the service's shape.
 */
export function createConnectDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
  limits: ServeLimits,
): HttpDoor {
  const router = createConnectRouter({
    readMaxBytes: limits.maxRequestBytes,
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
 * Where connect meets the pipeline: a unary call's handler runs inside pipeline.invoke, and its
 * rejection is thrown as the ConnectError connect encodes. Streams (health's Watch, reflection),
 * which only this door serves, are followed to their end through the same refusal path.
 */
function pipelineInterceptor(pipeline: CallPipeline): Interceptor {
  return (next) => async (req) => {
    const call = callOf(req.contextValues);
    if (req.stream || req.method.methodKind !== "unary") {
      return followStream(pipeline, call, next, req);
    }
    const answered = await pipeline.invoke(
      call,
      () => req.message,
      () => next(req),
    );
    if (answered.rejection !== undefined) {
      throw connectErrorOf(answered.rejection);
    }
    return answered.response;
  };
}

type Next = Parameters<Interceptor>[0];

async function followStream(
  pipeline: CallPipeline,
  call: Call | undefined,
  next: Next,
  req: Parameters<Next>[0],
): ReturnType<Next> {
  let res: Awaited<ReturnType<Next>>;
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
}

/**
 * Connect JSON takes content types by the policy of the doors that read JSON themselves
 * (json-body.ts): connect matches only `application/json` with `; charset=utf-8` spelt its way, so
 * a UTF-8 JSON type it would not match (`charset="UTF-8"`, other parameters) is handed on bare.
 * Any other charset is left as sent, for connect to refuse as an unsupported content type.
 */
function withConnectJsonType(header: Headers): void {
  const contentType = header.get("content-type");
  const json = utf8JsonTypeOf(contentType);
  if (json !== undefined && protocolOf(contentType) === "connect") {
    header.set("content-type", json);
  }
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
    uReq.signal.addEventListener("abort", () => pipeline.cancel(call), { once: true });
    const asked = {
      contentType: uReq.header.get("content-type") ?? "",
      method: req.method ?? "",
      path: handler.requestPath,
      allowedMethods: handler.allowedMethods,
    };
    withConnectJsonType(uReq.header);
    handler(uReq)
      .then(
        (uRes) => withServiceRefusals(uRes, asked, call, pipeline),
        (error: unknown) => {
          pipeline.settle(call, ConnectError.from(error).code);
          pipeline.end(call);
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
