import { type ContextKey, type ContextValues, createContextKey } from "@connectrpc/connect";

/** The port a call came in on: `main` (PORT) or `grpc` (GRPC_PORT). */
export type PortName = "main" | "grpc";

/** How a call ended, as its client sees it. */
export interface CallOutcome {
  /** The gRPC code's name: `OK`, `RESOURCE_EXHAUSTED`, `CANCELED`, … */
  readonly code: string;
  /** The service's ErrorInfo reason, if the refusal carried one. */
  readonly reason?: string | undefined;
}

/**
 * One call as every door knows it: made once at the edge by the pipeline (see call-pipeline.ts)
 * and carried in the call's context values, so that handlers, the refusal path and the observer
 * all read the same request id and client address.
 */
export interface Call {
  readonly requestId: string;
  /** `auth.v1.AuthService/RequestOtp`: service and method, as grpcurl names them. */
  readonly method: string;
  /** The door and protocol the call came through: `grpc`, `grpc-web`, `connect`, … */
  readonly protocol: string;
  /** The port the call came in on: `main` (PORT) or `grpc` (GRPC_PORT, the grpc-js door). */
  readonly listener: PortName;
  /** The client's IP, resolved once from the peer and, behind trusted proxies, X-Forwarded-For. */
  readonly clientAddress: string | undefined;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  /** The request's email, once the request message has been read (masked only when logged). */
  email?: string;
  /** The request's external id, if it named the account so (logged as it is; see the observer). */
  externalId?: string;
  /** Set by the pipeline as soon as the call's final status is known. */
  outcome?: CallOutcome;
  /** Set by the pipeline once the call has ended and been observed. */
  ended?: boolean;
}

// A connect context value rather than an AsyncLocalStorage: with one in use, Node 20 runs a
// promise hook for every promise the process creates, and that cost a fifth of the service's
// throughput (docs/benchmarks.md).
const kCall = createContextKey<Call | undefined>(undefined, {
  description: "the call being served",
});

/**
 * New context values for a handler serving `call`: connect's ContextValues, as one object per call
 * (connect's createContextValues makes three functions per call as well).
 */
export function contextValuesOf(call: Call): ContextValues {
  return new CallValues().set(kCall, call);
}

class CallValues implements ContextValues {
  [id: symbol]: unknown;

  get<T>(key: ContextKey<T>): T {
    return key.id in this ? (this[key.id] as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    this[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete this[key.id];
    return this;
  }
}

/** The call that `values` belong to, if any (none in in-process tests without a door). */
export function callOf(values: ContextValues | undefined): Call | undefined {
  return values?.get(kCall);
}
