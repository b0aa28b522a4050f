import { type Code, ConnectError } from "@connectrpc/connect";
import { OtpError } from "../domain/errors.js";
import type { Call, CallOutcome, PortName } from "./call-context.js";
import type { ClientAddressResolver } from "./client-address.js";
import { codeName, type Rejection, rejectionOf } from "./error-mapping.js";
import { FrameworkRefusalError, undecodableBody } from "./framework-refusals.js";
import { requestIdFrom } from "./request-id.js";

// The path of one call, whatever door it comes through:
//
//   socket ─► door (server/http-surface.ts composes the HTTP doors; server/<door>/ each)
//               │ 1. start: pipeline.start(edge) ─► Call {requestId, method, protocol,
//               │           clientAddress (resolved here, once)}, carried in context values
//               ▼
//             2. invoke: pipeline.invoke(call, decode, handler): decoding errors named
//                (framework-refusals.ts), the account noted for logs, the handler run
//                (rpc/auth-handlers.ts: wire ⇄ domain) ─► domain (rules) ─► storage, delivery;
//                its result or refusal recorded ─► Answer {response} | {rejection}: the error
//                table (error-mapping.ts), logged once here
//               ▼
//             3. encode + end: the door writes the response or the Rejection in its own wire
//                (rpc-status.ts builds google.rpc.Status for every door that writes one) and
//                calls pipeline.end(call) after its last byte, or pipeline.cancel(call) when
//                the client goes away first ─► observer (logs, metrics)
//
// A new door is three steps (docs/development.md "Adding a door"): start a call from its edge
// (peer address, headers or metadata, method, protocol); read the request from its wire and hand
// the decoder and handler to invoke; write the Answer in its wire and end the call. Refusals it
// raises itself come from the catalogue (framework-refusals.ts); limits from ServeLimits.

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
  readonly listener?: PortName;
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
  /**
   * Runs one unary call: decodes the request (what `decode` throws is an undecodable body unless
   * it is a framework refusal already), notes its account for the call's log line, runs
   * `handler`, and records the outcome. Never throws: a refusal comes back as the Rejection to
   * encode. The door ends the call once the answer is written.
   */
  invoke<Req extends object, Res>(
    call: Call | undefined,
    decode: () => Req | Promise<Req>,
    handler: (request: Req) => Res | Promise<Res>,
  ): Promise<Answer<Res>>;
  /** Records that `call` succeeded (for what a door serves without invoke: streams). */
  succeed(call: Call | undefined): void;
  /**
   * The one refusal path: what a handler or decoder threw becomes the Rejection every door
   * encodes; delivery failures and unexpected errors are logged here, once. Recorded on `call`.
   */
  refuse(call: Call | undefined, thrown: unknown): Rejection;
  /**
   * Records the status the transport gave `call` when no handler decided it (a deadline that
   * passed, a call cut short); a recorded outcome stays.
   */
  settle(call: Call, code: Code): void;
  /** Ends `call` with the outcome recorded on it (UNKNOWN if none was); once only. */
  end(call: Call): void;
  /** Ends `call` as CANCELED, the client having gone away first; nothing if it has ended. */
  cancel(call: Call): void;
}

/** A unary call's result: the handler's response, or the refusal to encode. */
export type Answer<Res> =
  | { readonly response: Res; readonly rejection?: undefined }
  | { readonly response?: undefined; readonly rejection: Rejection };

const OK: CallOutcome = { code: "OK" };
const CANCELED: CallOutcome = { code: "CANCELED" };
const UNKNOWN: CallOutcome = { code: "UNKNOWN" };
// Reasons this service sends look like this; anything else is left out of logs and metrics.
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The pipeline every door of one service shares. */
export function createCallPipeline(options: CallPipelineOptions): CallPipeline {
  const pipeline: CallPipeline = {
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
    async invoke(call, decode, handler) {
      let response: Awaited<ReturnType<typeof handler>>;
      try {
        let request: Awaited<ReturnType<typeof decode>>;
        try {
          request = await decode();
        } catch (error) {
          throw error instanceof FrameworkRefusalError ? error : undecodableBody(error);
        }
        noteAccount(call, request);
        response = await handler(request);
      } catch (thrown) {
        return { rejection: pipeline.refuse(call, thrown) };
      }
      pipeline.succeed(call);
      return { response };
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
    settle(call, code) {
      call.outcome ??= { code: codeName(code) };
    },
    end(call) {
      observe(call, call.outcome ?? UNKNOWN);
    },
    cancel(call) {
      observe(call, CANCELED);
    },
  };

  function observe(call: Call, outcome: CallOutcome): void {
    if (call.ended === true) {
      return;
    }
    call.ended = true;
    try {
      options.observer?.callEnded(call, outcome, performance.now() - call.startedAt);
    } catch {
      // Observing must never break a call.
    }
  }

  return pipeline;
}

/** The account a request names, kept on the call for its log line (masked only when logged). */
function noteAccount(call: Call | undefined, request: object): void {
  if (call === undefined) {
    return;
  }
  const { email, externalId } = request as { email?: unknown; externalId?: unknown };
  // Empty is proto3's "not sent": a request naming its account by external id has no email.
  if (typeof email === "string" && email !== "") {
    call.email = email;
  }
  if (typeof externalId === "string" && externalId !== "") {
    call.externalId = externalId;
  }
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
