import type { HealthSource } from "../rpc/health.js";
import type { PrimaryWatch } from "../storage/postgres/primary-pool.js";
import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

/**
 * Plain HTTP probes for load balancers and orchestrators, answering GET and HEAD:
 * - `/healthz` (liveness): 200 whenever the process answers at all, also while it drains, so
 *   that nobody restarts a process that is only shutting down or waiting for its storage;
 * - `/readyz` (readiness): 200 while `health` is serving, 503 otherwise, with the reason; with
 *   several database hosts (`primary`), it also says which host is the primary now (null while
 *   none is) and the last failover this instance noticed (null if none).
 * Other methods get 405; other paths go to `next` (404 by default).
 */
export function createProbeHandler(
  health: HealthSource,
  next: NodeHandler = respondNotFound,
  primary?: PrimaryWatch,
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
    const database = primary && { database: databaseState(primary) };
    const [status, body] =
      path === "/healthz"
        ? [200, { status: "ok" }]
        : state === "serving"
          ? [200, { status: "SERVING", ...database }]
          : [503, { status: "NOT_SERVING", reason: state, ...database }];
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

function databaseState(watch: PrimaryWatch) {
  const failover = watch.lastFailover();
  return {
    hosts: watch.hosts,
    primary: watch.primary(),
    lastFailover: failover && { ...failover, at: new Date(failover.at).toISOString() },
  };
}
