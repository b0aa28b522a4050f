import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Call } from "../rpc/call-context.js";
import type { CallPipeline } from "../rpc/call-pipeline.js";
import { joinedValue } from "../rpc/headers.js";
import { REQUEST_ID_HEADER } from "../rpc/request-id.js";
import type { CorsResponder } from "./cors.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

/** Answers 404 with no body: the path is neither an API path nor anything else served here. */
export const respondNotFound: NodeHandler = (_req, res) => {
  res.writeHead(404);
  res.end();
};

/** One way into the API over HTTP (connect's protocols; REST). */
export interface HttpDoor {
  /**
   * The API method this door serves at `path` (without the query) for `httpMethod` (for a CORS
   * preflight, the method the browser asks to send), if any.
   */
  route(path: string, httpMethod: string): HttpRoute | undefined;
}

/** One API method as a door serves it. */
export interface HttpRoute {
  /** `auth.v1.AuthService/RequestOtp`. */
  readonly method: string;
  /** The protocol `req` speaks, as the door tells them apart (for logs and metrics). */
  protocolOf(req: NodeRequest): string;
  /** Serves `req` as `call`, which the surface has started; the door ends it. */
  serve(req: NodeRequest, res: NodeResponse, call: Call): void;
}

export interface HttpSurfaceOptions {
  /** The pipeline every door's calls start in. */
  readonly pipeline: CallPipeline;
  /** The API's doors, asked in order. */
  readonly doors: readonly HttpDoor[];
  /** Serves what is not an API path: probes, metrics, the login page (404 by default). */
  readonly resources?: NodeHandler;
  /** Adds CORS headers to API responses and answers their preflights. */
  readonly cors?: CorsResponder | undefined;
}

/**
 * The one composer of the HTTP surface: every API path, whatever door serves it, gets CORS (when
 * configured; preflights answered here) and a call started in the pipeline (request id echoed in
 * `x-request-id`, client address resolved once from the socket's peer); everything else goes to
 * `resources`.
 */
export function createHttpSurface(options: HttpSurfaceOptions): NodeHandler {
  const { pipeline, doors, resources = respondNotFound, cors } = options;
  return (req, res) => {
    // Every answer of this port declares its own content type; no browser may guess another.
    res.setHeader("x-content-type-options", "nosniff");
    const path = req.url?.split("?", 1)[0] ?? "";
    const httpMethod = (cors && preflightMethod(req)) || (req.method ?? "");
    let route: HttpRoute | undefined;
    for (const door of doors) {
      route = door.route(path, httpMethod);
      if (route !== undefined) {
        break;
      }
    }
    if (route === undefined) {
      resources(req, res);
      return;
    }
    if (cors?.(req, res)) {
      return;
    }
    const call = startCall(pipeline, req, route.method, route.protocolOf(req));
    res.setHeader(REQUEST_ID_HEADER, call.requestId);
    if (req.method !== "GET" && req.method !== "HEAD") {
      // Answers that carry tokens (VerifyOtp, GetStatus by session token, introspection) are all
      // answers to POSTs, which no cache may keep; a GET (GetStatus by email) stays cacheable.
      res.setHeader("cache-control", "no-store");
    }
    route.serve(req, res, call);
  };
}

/** Starts a call for `req` at its HTTP edge: socket peer, `x-forwarded-for`, `x-request-id`. */
export function startCall(
  pipeline: CallPipeline,
  req: NodeRequest,
  method: string,
  protocol: string,
): Call {
  return pipeline.start({
    method,
    protocol,
    peerAddress: req.socket.remoteAddress,
    forwardedFor: headerOf(req, "x-forwarded-for"),
    requestId: headerOf(req, REQUEST_ID_HEADER),
  });
}

/** The method a CORS preflight asks to send, if `req` is one. */
function preflightMethod(req: NodeRequest): string | undefined {
  const asked = req.headers["access-control-request-method"];
  return req.method === "OPTIONS" && req.headers.origin !== undefined && typeof asked === "string"
    ? asked
    : undefined;
}

/** A request header's value, repeated ones joined by ", " as fetch's Headers joins them. */
export function headerOf(req: NodeRequest, name: string): string | null {
  return joinedValue(req.headers[name]);
}
