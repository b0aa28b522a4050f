import { ConnectError } from "@connectrpc/connect";
import { OtpError } from "../domain/errors.js";
import type { Call, CallOutcome, Listener } from "./call-context.js";
import type { ClientAddressResolver } from "./client-address.js";
import { codeName, type Rejection, rejectionOf } from "./error-mapping.js";
import { FrameworkRefusalError } from "./framework-refusals.js";
import { requestIdFrom } from "./request-id.js";

// The path of one call, whatever door it comes through:
//
//   socket ─► door (server/http-surface.ts composes the HTTP doors; connect-door.ts is one)
//               │ 1. start: pipeline.start(edge) ─► Call {requestId, method, protocol,
//               │           clientAddress (resolved here, once)}, carried in context values
//               ▼
//             handler (rpc/auth-handlers.ts: wire ⇄ domain, reads the Call from ctx)
//               │          ─► domain (rules) ─► storage, delivery
//               ▼
//             2. refuse: pipeline.refuse(call, thrown) ─► Rejection {code, message, details,
//                metadata}: the error table (error-mapping.ts), logged once here
//               ▼
//             3. encode + end: the door writes the result or the Rejection in its own protocol
//                and calls pipeline.end(call, outcome) ─► observer (logs, metrics)
//
// A new door writes three things: how it starts a call from its edge (peer address, headers or
// metadata, method, protocol), how it encodes a Rejection (connect: connectErrorOf; REST:
// httpStatusOf and google.rpc.Status JSON; grpc-js: status, metadata and grpc-status-details-bin),
// and where it ends the call (after its last byte, or when the client goes away). Everything else
// (handlers, error table, client address rules, logs and metrics) it finds here.

/** Tells a door's calls to whoever watches them (logs and metrics); must never throw. */
export interface CallObserver {
  /** `call` ended with `outcome`, `durationMs` after it started. */
  callEnded(call: Call, outcome: CallOutcome, durationMs: number): void;
}

/** What a door knows about a call at its edge, before anything is decoded. */
export interface CallEdge {
  /** `auth.v1.AuthService/RequestOtp`. */
  readonly method: string;
  readonly protocol: string;
  /** The port the call came in on; `main` unless said. */
  readonly listener?: Listener;
  /** The TCP peer (socket remote address), or the grpc-js peer. */
  readonly peerAddress: string | undefined;
  /** The `x-forwarded-for` request header, if any. */
  readonly forwardedFor: string | null;
  /** The caller's `x-request-id`, if any. */
  readonly requestId: string | null;
}

export interface CallPipelineOptions {
  readonly resolveClientAddress: ClientAddressResolver;
  readonly observer?: CallObserver;
  /**
   * Told about every error that becomes INTERNAL, with its cause and the call's request id; the
   * client sees no detail.
   */
  readonly onInternalError?: (procedure: string, error: unknown, requestId?: string) => void;
  /**
   * Told why code `otpId` could not be delivered (the client only hears DELIVERY_FAILED), with
   * the call's request id.
   */
  readonly onDeliveryFailed?: (otpId: string, cause: unknown, requestId?: string) => void;
}

/** The one path every call takes between its door and its handler; see the drawing above. */
export interface CallPipeline {
  /** Starts a call: gives it a request id and resolves the client address, once. */
  start(edge: CallEdge): Call;
  /** Records that `call` succeeded; the door ends it once the answer is written. */
  succeed(call: Call | undefined): void;
  /**
   * The one refusal path: what a handler or decoder threw becomes the Rejection every door
   * encodes; delivery failures and unexpected errors are logged here, once. Recorded on `call`.
   */
  refuse(call: Call | undefined, thrown: unknown): Rejection;
  /** Ends `call` with `outcome` (the one recorded on it, if the door passes none); once only. */
  end(call: Call, outcome?: CallOutcome): void;
}

const OK: CallOutcome = { code: "OK" };
// Reasons this service sends look like this; anything else is left out of logs and metrics.
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The pipeline every door of one service shares. */
export function createCallPipeline(options: CallPipelineOptions): CallPipeline {
  return {
    start(edge) {
      return {
        requestId: requestIdFrom(edge.requestId),
        method: edge.method,
        protocol: edge.protocol,
        listener: edge.listener ?? "main",
        clientAddress: options.resolveClientAddress(edge.peerAddress, edge.forwardedFor),
        startedAt: performance.now(),
      };
    },
    succeed(call) {
      if (call !== undefined) {
        call.outcome ??= OK;
      }
    },
    refuse(call, thrown) {
      const rejection = rejectionOf(thrown);
      const requestId = call?.requestId;
      if (thrown instanceof OtpError) {
        if (thrown.refusal.kind === "delivery_failed") {
          options.onDeliveryFailed?.(thrown.refusal.otpId, thrown.cause, requestId);
        }
      } else if (!(thrown instanceof ConnectError || thrown instanceof FrameworkRefusalError)) {
        // Answered as INTERNAL without detail; the cause is kept for operators.
        options.onInternalError?.(procedureOf(call), thrown, requestId);
      }
      if (call !== undefined) {
        call.outcome ??= outcomeOf(rejection);
      }
      return rejection;
    },
    end(call, outcome) {
      if (call.ended === true) {
        return;
      }
      call.ended = true;
      try {
        options.observer?.callEnded(
          call,
          outcome ?? call.outcome ?? { code: "UNKNOWN" },
          performance.now() - call.startedAt,
        );
      } catch {
        // Observing must never break a call.
      }
    },
  };
}

/** How the client sees a rejection end its call. */
export function outcomeOf(rejection: Pick<Rejection, "code" | "reason">): CallOutcome {
  const reason =
    rejection.reason !== undefined && REASON.test(rejection.reason) ? rejection.reason : undefined;
  return { code: codeName(rejection.code), reason };
}

/** `RequestOtp` for `auth.v1.AuthService/RequestOtp`, as unexpected errors are logged. */
function procedureOf(call: Call | undefined): string {
  return call?.method.slice(call.method.lastIndexOf("/") + 1) ?? "";
}
