import type { HealthSource } from "../rpc/health.js";
import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

/**
 * Plain HTTP probes for load balancers and orchestrators, answering GET and HEAD:
 * - `/healthz` (liveness): 200 whenever the process answers at all, also while it drains, so
 *   that nobody restarts a process that is only shutting down or waiting for its storage;
 * - `/readyz` (readiness): 200 while `health` is serving, 503 otherwise, with the reason.
 * Other methods get 405; other paths go to `next` (404 by default).
 */
export function createProbeHandler(
  health: HealthSource,
  next: NodeHandler = respondNotFound,
): NodeHandler {
  return (req, res) => {
    const path = req.url?.split("?", 1)[0];
    if (path !== "/healthz" && path !== "/readyz") {
      next(req, res);
      return;
    }
    if (!allowOnlyGetAndHead(req, res)) {
      return;
    }
    const state = health.state();
    const [status, body] =
      path === "/healthz"
        ? [200, { status: "ok" }]
        : state === "serving"
          ? [200, { status: "SERVING" }]
          : [503, { status: "NOT_SERVING", reason: state }];
    sendWhole(
      req,
      res,
      status,
      // A cached answer about health is a wrong answer.
      { "content-type": "application/json", "cache-control": "no-store" },
      JSON.stringify(body),
    );
  };
}
