import { OtpError } from "../domain/errors.js";
import type { OtpStore } from "../domain/otp-store.js";
import type { StoreErrorKind } from "./metrics.js";

/**
 * `store`, unchanged in behaviour, telling `onError` about every operation that rejects: with
 * `storage_unavailable` when the backend could not be reached, `unexpected` for anything else
 * (a bug, a broken schema). The rejection itself still reaches the caller.
 */
export function instrumentStore(
  store: OtpStore,
  onError: (operation: string, kind: StoreErrorKind) => void,
): OtpStore {
  // A proxy rather than a hand-written wrapper per method: every operation of the port is
  // covered, including ones added later.
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") {
        return value;
      }
      return (...args: unknown[]) => {
        const result: unknown = Reflect.apply(value, target, args);
        if (!(result instanceof Promise)) {
          return result;
        }
        return result.catch((error: unknown) => {
          onError(String(property), classify(error));
          throw error;
        });
      };
    },
  });
}

function classify(error: unknown): StoreErrorKind {
  return error instanceof OtpError && error.refusal.kind === "storage_unavailable"
    ? "storage_unavailable"
    : "unexpected";
}
