import type { Registry } from "prom-client";
import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

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
    if (!allowOnlyGetAndHead(req, res)) {
      return;
    }
    registry.metrics().then(
      (text) =>
        sendWhole(
          req,
          res,
          200,
          { "content-type": registry.contentType, "cache-control": "no-store" },
          text,
        ),
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  };
}
