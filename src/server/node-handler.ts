import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  createContextValues,
} from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { kPeerAddress } from "../rpc/client-address.js";
import { withFrameworkErrorsNormalized } from "./framework-errors.js";

/** Largest request message accepted, in bytes; larger ones get MESSAGE_TOO_LARGE. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/**
 * A Node request handler serving the routes over gRPC, gRPC-Web and Connect. It is
 * connectNodeAdapter plus two things that adapter cannot do: errors raised by connect before a
 * handler runs are given the service's error shape, and handlers learn the TCP peer address.
 * Paths outside the routes go to `fallback` (404 by default).
 */
export function createNodeHandler(
  routes: (router: ConnectRouter) => void,
  fallback: NodeHandler = (_req, res) => {
    res.writeHead(404);
    res.end();
  },
): NodeHandler {
  const router = createConnectRouter({
    readMaxBytes: MAX_REQUEST_BYTES,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  routes(router);
  const paths = new Map(
    router.handlers.map((handler) => [handler.requestPath, withFrameworkErrorsNormalized(handler)]),
  );

  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 1)[0] ?? "");
    if (handler === undefined) {
      fallback(req, res);
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
