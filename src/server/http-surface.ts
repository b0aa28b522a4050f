import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { kPeerAddress } from "../rpc/client-address.js";
import type { CorsResponder } from "./cors.js";
import { withFrameworkErrorsNormalized } from "./connect-door.js";

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

export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Answers 404 with no body: the path is neither an RPC nor anything else served here. */
export const respondNotFound: NodeHandler = (_req, res) => {
  res.writeHead(404);
  res.end();
};

export interface NodeHandlerOptions {
  /** Serves paths that are not RPCs (404 by default). */
  readonly fallback?: NodeHandler;
  /** Adds CORS headers to RPC responses and answers their preflights. */
  readonly cors?: CorsResponder;
  /** Wraps each RPC's handler outside the error rewriting, seeing each call as the client does. */
  readonly observe?: (handler: UniversalHandler) => UniversalHandler;
}

/**
 * A Node request handler serving the routes over gRPC, gRPC-Web and Connect. It is
 * connectNodeAdapter plus two things that adapter cannot do: errors raised by connect before a
 * handler runs are given the service's error shape, and handlers learn the TCP peer address.
 * Paths outside the routes go to `fallback` (404 by default). With `cors`, requests for the
 * routes get CORS headers, and preflights for them are answered (see createCors). `observe`
 * wraps each route's handler outside the error rewriting, so it sees each call as the client does.
 */
export function createNodeHandler(
  routes: (router: ConnectRouter) => void,
  options: NodeHandlerOptions = {},
): NodeHandler {
  const { fallback = respondNotFound, cors, observe = (handler) => handler } = options;
  const router = createConnectRouter({
    readMaxBytes: MAX_REQUEST_BYTES,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: strictUtf8Json,
  });
  routes(router);
  const paths = new Map(
    router.handlers.map((handler) => [
      handler.requestPath,
      observe(withFrameworkErrorsNormalized(handler)),
    ]),
  );

  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 1)[0] ?? "");
    if (handler === undefined) {
      fallback(req, res);
      return;
    }
    if (cors?.(req, res)) {
      return;
    }
    const values = createContextValues().set(kPeerAddress, req.socket.remoteAddress);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away or the write failed; there is nobody left to answer.
        if (ConnectError.from(reason).code !== Code.Aborted) {
          res.destroy();
        }
      });
  };
}
