import { AsyncLocalStorage } from "node:async_hooks";
import type { Interceptor } from "@connectrpc/connect";
import { maskEmail } from "./mask-email.js";

/** What is known about the RPC being served, for its log lines. */
export interface CallContext {
  readonly requestId: string;
  /** The request's email, masked; set once the request message has been read. */
  email?: string;
}

// Async-local rather than a connect context value so that code with no request at hand (a
// sender reporting a failed delivery) still logs the id of the call it works for.
const calls = new AsyncLocalStorage<CallContext>();

/** Runs `fn` as part of `call`: whatever it logs, also asynchronously later, carries the call. */
export function runInCall<T>(call: CallContext, fn: () => T): T {
  return calls.run(call, fn);
}

/** The call being served by the code that asks, if any. */
export function currentCall(): CallContext | undefined {
  return calls.getStore();
}

/**
 * An interceptor that notes the masked `email` of a unary request on the current call, so that
 * the call's log line names the (masked) address. Requests without an email pass untouched.
 */
export const noteMaskedEmail: Interceptor = (next) => async (req) => {
  const call = currentCall();
  if (call !== undefined && !req.stream) {
    const email: unknown = (req.message as { email?: unknown }).email;
    if (typeof email === "string") {
      call.email = maskEmail(email);
    }
  }
  return next(req);
};
