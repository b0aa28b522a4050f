import type { DescMethod } from "@bufbuild/protobuf";
import { ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { readAllBytes } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import type { ServeLimits } from "../config/serve-limits.js";
import { type Call, contextValuesOf } from "../rpc/call-context.js";
import type { CallPipeline } from "../rpc/call-pipeline.js";
import { frameworkRefusalOf, methodNotAllowed } from "../rpc/framework-refusals.js";
import type { NodeRequest, NodeResponse } from "./http-surface.js";

/**
 * What the HTTP doors that call handlers themselves (REST, seed B's dialect) share: running a
 * call's answer and ending the call when the response closes, the handler context, and the body
 * read under the serve limits.
 */

/** Runs `write` for `call`, ending the call when the response closes (cancelled if unfinished). */
export function serveCall(
  res: NodeResponse,
  call: Call,
  pipeline: CallPipeline,
  write: () => Promise<void>,
): void {
  res.once("close", () => (res.writableFinished ? pipeline.end(call) : pipeline.cancel(call)));
  write().catch(() => {
    // Writing failed: the client went away, and the close above ends the call.
    res.destroy();
  });
}

/** A request as a door that calls a handler itself sees it. */
export interface HttpCallRequest {
  /** The handler's context: the call in its values, the request's headers, its abort signal. */
  readonly context: HandlerContext & { abort(): void };
  /** The request body, at most `limits.maxRequestBytes` (else MESSAGE_TOO_LARGE). */
  body(): Promise<Uint8Array>;
}

/** The handler context and body reader of `req`, served as `call` for `method`. */
export function httpCallRequest(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  method: DescMethod,
  protocol: string,
  limits: ServeLimits,
): HttpCallRequest {
  const values = contextValuesOf(call);
  const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
  const context = createHandlerContext({
    service: method.parent,
    method,
    protocolName: protocol,
    requestMethod: req.method ?? "",
    url: uReq.url,
    requestHeader: uReq.header,
    requestSignal: uReq.signal,
    contextValues: values,
  });
  return {
    context,
    async body() {
      try {
        const body = uReq.body as AsyncIterable<Uint8Array>;
        return await readAllBytes(body, limits.maxRequestBytes, uReq.header.get("content-length"));
      } catch (error) {
        const connectError = ConnectError.from(error);
        throw frameworkRefusalOf(connectError) ?? connectError;
      }
    },
  };
}

/**
 * Refuses (method_not_allowed, `Allow: POST`) a request to `path` that is not a POST: for the
 * doors whose routes take only POST (seed B's dialect, introspection).
 */
export function requirePost(req: NodeRequest, path: string): void {
  if (req.method !== "POST") {
    throw methodNotAllowed(req.method ?? "", path, POST_ONLY);
  }
}

const POST_ONLY = ["POST"];
