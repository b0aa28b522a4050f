import { ConnectError, createContextValues } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { type ClientAddressResolver, kPeerAddress } from "../rpc/client-address.js";
import { replaceHandler } from "../server/replace-handler.js";
import { type CallContext, setCall } from "../rpc/call-context.js";
import { codeName, type Status, watchStatus } from "./call-outcome.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { REQUEST_ID_HEADER, requestIdFrom } from "../rpc/request-id.js";

/** Where a call observer reports calls to, and how it tells the client's IP. */
export interface CallObserverOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** How the client's IP is told, as the handlers tell it (TRUST_PROXY). */
  readonly resolveClientAddress: ClientAddressResolver;
}

/** Wraps one connect handler; see createCallObserver. */
export type CallObserver = (handler: UniversalHandler) => UniversalHandler;

/**
 * Observes every call of a handler as its client sees it, including errors that connect raises
 * before the handler's implementation runs (undecodable body, wrong content type), which no
 * interceptor sees: gives the call a request id (the client's `x-request-id`, or a new one),
 * echoes it in the `x-request-id` response header, puts a CallContext in the request's context
 * values (see callOf) so that whatever logs for the call can name it, and once the response is
 * done counts it in `metrics` and logs one line: `msg: "rpc"` with method, code, reason,
 * durationMs, protocol, clientIp, requestId and the masked email. A call whose client goes away
 * first ends then, as CANCELED. INTERNAL, UNKNOWN and DATA_LOSS log at error, UNAVAILABLE at
 * warn, the rest at info.
 */
export function createCallObserver(options: CallObserverOptions): CallObserver {
  const { logger, metrics } = options;
  return (handler) => {
    const method = `${handler.service.typeName}/${handler.method.name}`;
    const observed = async (req: UniversalServerRequest) => {
      const started = performance.now();
      const call: CallContext = { requestId: requestIdFrom(req.header.get(REQUEST_ID_HEADER)) };
      const report = (status: Status) => {
        const durationMs = performance.now() - started;
        metrics.recordCall({ method, ...status, durationSeconds: durationMs / 1000 });
        logger[levelFor(status.code)](
          {
            requestId: call.requestId,
            method,
            code: status.code,
            reason: status.reason,
            durationMs: Math.round(durationMs * 1000) / 1000,
            protocol: protocolOf(req.header.get("content-type")),
            clientIp: options.resolveClientAddress(
              req.contextValues?.get(kPeerAddress),
              req.header.get("x-forwarded-for"),
            ),
            email: call.email,
          },
          "rpc",
        );
      };
      let settled = false;
      const settle = (status: Status) => {
        if (settled) {
          return;
        }
        settled = true;
        try {
          report(status);
        } catch {
          // Observing must never break a call.
        }
      };
      // A client that goes away (or a connection cut at shutdown) ends the call for the client
      // then, though the handler may run on; a call that finished first has settled already.
      req.signal.addEventListener("abort", () => settle({ code: "CANCELED" }), { once: true });
      let res: Awaited<ReturnType<UniversalHandler>>;
      try {
        res = await handler(withCall(req, call));
      } catch (error) {
        settle({ code: codeName(ConnectError.from(error).code) });
        throw error;
      }
      const header = res.header ?? new Headers();
      header.set(REQUEST_ID_HEADER, call.requestId);
      return watchStatus({ ...res, header }, settle);
    };
    return replaceHandler(handler, observed);
  };
}

/** `req` carrying `call` in its context values (connect-node requests always have some). */
function withCall(req: UniversalServerRequest, call: CallContext): UniversalServerRequest {
  if (req.contextValues !== undefined) {
    setCall(req.contextValues, call);
    return req;
  }
  const contextValues = createContextValues();
  setCall(contextValues, call);
  return { ...req, contextValues };
}

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

/** The protocol a request speaks, by its content type, as connect tells them apart. */
function protocolOf(contentType: string | null): "grpc" | "grpc-web" | "connect" {
  if (contentType?.startsWith("application/grpc-web")) {
    return "grpc-web";
  }
  if (contentType?.startsWith("application/grpc")) {
    return "grpc";
  }
  return "connect";
}
