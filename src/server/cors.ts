import type * as http from "node:http";
import type * as http2 from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";

/** Request headers this service reads besides the protocols' own. */
const SERVICE_REQUEST_HEADERS = ["idempotency-key", "x-request-id"];
/** Response headers a browser script needs besides the protocols' own (retry-after is error metadata). */
const SERVICE_RESPONSE_HEADERS = ["retry-after", "x-request-id"];
// Chromium caps a cached preflight at 2 hours; a longer max-age buys nothing there.
const PREFLIGHT_MAX_AGE_SECONDS = 7_200;

const ALLOW_METHODS = connectCors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...connectCors.allowedHeaders, ...SERVICE_REQUEST_HEADERS].join(", ");
const EXPOSE_HEADERS = [...connectCors.exposedHeaders, ...SERVICE_RESPONSE_HEADERS].join(", ");

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Applies CORS to one request for an RPC path. Returns true when it has answered the request
 * itself (a preflight); otherwise it has only set headers and the RPC is served as usual.
 */
export type CorsResponder = (req: Request, res: Response) => boolean;

/**
 * CORS for Connect and gRPC-Web callers on the pages of `origins` (exact origins such as
 * `https://app.example.com`, or `["*"]` for any). An empty list gives undefined: no CORS at all.
 *
 * - A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin is
 *   answered 204 with the methods and request headers connect's protocols use, plus
 *   `idempotency-key` and `x-request-id`, cacheable for 2 hours. From any other origin it is
 *   answered 403 with no CORS headers.
 * - Other requests from an allowed origin get Access-Control-Allow-Origin and
 *   Access-Control-Expose-Headers (grpc-status, grpc-message, grpc-status-details-bin,
 *   retry-after, x-request-id, …). Requests from other origins are still served, but without CORS
 *   headers, so the browser withholds the response from the calling script.
 *
 * Credentials are never allowed: the service uses no cookies or HTTP authentication, and
 * Access-Control-Allow-Origin `*` with credentials is what CORS forbids outright.
 */
export function createCors(origins: readonly string[]): CorsResponder | undefined {
  if (origins.length === 0) {
    return undefined;
  }
  const anyOrigin = origins.includes("*");
  const allowed = new Set(origins);

  return (req, res) => {
    const origin = req.headers.origin;
    const permitted = origin !== undefined && (anyOrigin || allowed.has(origin));
    const allowOrigin = anyOrigin ? "*" : origin;
    if (!anyOrigin) {
      // The answer differs by Origin unless every origin gets `*`, and caches must know that.
      res.setHeader("vary", "Origin");
    }

    if (
      req.method === "OPTIONS" &&
      origin !== undefined &&
      req.headers["access-control-request-method"]
    ) {
      if (!permitted) {
        const body = "origin not allowed: not listed in CORS_ORIGINS\n";
        res.writeHead(403, {
          "content-type": "text/plain; charset=utf-8",
          "content-length": Buffer.byteLength(body),
        });
        res.end(body);
        return true;
      }
      res.writeHead(204, {
        "access-control-allow-origin": allowOrigin,
        "access-control-allow-methods": ALLOW_METHODS,
        "access-control-allow-headers": ALLOW_HEADERS,
        "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
      });
      res.end();
      return true;
    }

    if (permitted && allowOrigin !== undefined) {
      res.setHeader("access-control-allow-origin", allowOrigin);
      res.setHeader("access-control-expose-headers", EXPOSE_HEADERS);
    }
    return false;
  };
}
