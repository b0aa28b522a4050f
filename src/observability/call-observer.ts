import type { CallObserver } from "../rpc/call-pipeline.js";
import type { Logger } from "./logger.js";
import { maskEmail } from "./mask-email.js";
import type { Metrics } from "./metrics.js";

/** Where a call observer reports calls to. */
export interface CallObserverOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Observes every call a door ends, with what the door already knows (no response is read back):
 * counts it in `metrics` and logs one line, `msg: "rpc"` with method, code, reason, durationMs,
 * protocol, listener, clientIp, requestId, the masked email and the external id. INTERNAL,
 * UNKNOWN and DATA_LOSS log at error, UNAVAILABLE at warn, the rest at info.
 */
export function createCallObserver(options: CallObserverOptions): CallObserver {
  const { logger, metrics } = options;
  return {
    callEnded(call, outcome, durationMs) {
      metrics.recordCall({
        method: call.method,
        listener: call.listener,
        protocol: call.protocol,
        code: outcome.code,
        reason: outcome.reason,
        durationSeconds: durationMs / 1000,
      });
      logger[levelFor(outcome.code)](
        {
          requestId: call.requestId,
          method: call.method,
          code: outcome.code,
          reason: outcome.reason,
          durationMs: Math.round(durationMs * 1000) / 1000,
          protocol: call.protocol,
          listener: call.listener,
          clientIp: call.clientAddress,
          email: call.email === undefined ? undefined : maskEmail(call.email),
          // Not masked: it is the application's own opaque id for its user, what an operator
          // needs to follow a login into the application's logs, and holds no contact details
          // (an application that uses addresses as ids still gets them masked, as every string
          // the logger writes is). Cut to the longest valid id: it is logged before it is checked.
          externalId: call.externalId?.slice(0, MAX_EXTERNAL_ID_LOGGED),
        },
        "rpc",
      );
    },
  };
}

const MAX_EXTERNAL_ID_LOGGED = 128;

function levelFor(code: string): "error" | "warn" | "info" {
  switch (code) {
    case "INTERNAL":
    case "UNKNOWN":
    case "DATA_LOSS":
      return "error";
    case "UNAVAILABLE":
      return "warn";
    default:
      return "info";
  }
}
