import { type ContextValues, createContextKey, type Interceptor } from "@connectrpc/connect";
import { maskEmail } from "../observability/mask-email.js";

/** What is known about the RPC being served, for its log lines. */
export interface CallContext {
  readonly requestId: string;
  /** The request's email, masked; set once the request message has been read. */
  email?: string;
}

// A connect context value rather than an AsyncLocalStorage: with one in use, Node 20 runs a
// promise hook for every promise the process creates, and that cost a fifth of the service's
// throughput (README "Benchmarks"). Whatever logs on behalf of a call gets the call from the
// context values the request carries.
const kCall = createContextKey<CallContext | undefined>(undefined, {
  description: "the call being served",
});

/** Records `call` as the call that `values` belong to. */
export function setCall(values: ContextValues, call: CallContext): void {
  values.set(kCall, call);
}

/** The call that `values` belong to, if any. */
export function callOf(values: ContextValues | undefined): CallContext | undefined {
  return values?.get(kCall);
}

/**
 * An interceptor that notes the masked `email` of a unary request on the current call, so that
 * the call's log line names the (masked) address. Requests without an email pass untouched.
 */
export const noteMaskedEmail: Interceptor = (next) => async (req) => {
  const call = callOf(req.contextValues);
  if (call !== undefined && !req.stream) {
    const email: unknown = (req.message as { email?: unknown }).email;
    if (typeof email === "string") {
      call.email = maskEmail(email);
    }
  }
  return next(req);
};
