import type { Registry } from "prom-client";
import { type NodeHandler, respondNotFound } from "./node-handler.js";

/**
 * Serves `registry` at `GET /metrics` (and HEAD) in the Prometheus text format, uncached. Other
 * methods get 405; other paths go to `next` (404 by default). A collection that fails answers 500
 * with no body.
 */
export function createMetricsHandler(
  registry: Registry,
  next: NodeHandler = respondNotFound,
): NodeHandler {
  return (req, res) => {
    if (req.url?.split("?", 1)[0] !== "/metrics") {
      next(req, res);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          "content-type": registry.contentType,
          "content-length": Buffer.byteLength(text),
          "cache-control": "no-store",
        });
        if (req.method === "HEAD") {
          res.end();
        } else {
          res.end(text);
        }
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  };
}
