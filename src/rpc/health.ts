import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/health/v1/health_pb.js";

/** Whether the server serves, and if not, why. */
export type ServingState = "serving" | "storage_unreachable" | "shutting_down";

/** Where the health service learns the server's state. */
export interface HealthSource {
  /** The state now. */
  state(): ServingState;
  /** Calls `listener` with each new state until the returned function is called. */
  subscribe(listener: (state: ServingState) => void): () => void;
}

/**
 * grpc.health.v1.Health for the whole server ("") and for `services`, which all share `source`'s
 * state: SERVING while it is "serving", NOT_SERVING otherwise. Check fails with NOT_FOUND for any
 * other name. Watch sends the current status and then each change (SERVICE_UNKNOWN, once, for
 * other names, as the health protocol says); it ends after telling that shutdown has begun, so
 * that a graceful close does not wait out its grace period for watchers.
 */
export function createHealthHandlers(
  source: HealthSource,
  services: readonly string[],
): ServiceImpl<typeof Health> {
  const known = new Set(["", ...services]);
  return {
    check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status: toServingStatus(source.state()) };
    },
    list() {
      const status = toServingStatus(source.state());
      return { statuses: Object.fromEntries([...known].map((name) => [name, { status }])) };
    },
    async *watch(request, context) {
      let sent: ServingStatus | undefined;
      for await (const state of statesOf(source, context.signal)) {
        const status = known.has(request.service)
          ? toServingStatus(state)
          : ServingStatus.SERVICE_UNKNOWN;
        if (status !== sent) {
          sent = status;
          yield { status };
        }
        if (state === "shutting_down") {
          return;
        }
      }
    },
  };
}

function toServingStatus(state: ServingState): ServingStatus {
  return state === "serving" ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

/** The current state, then every change, until `signal` aborts (the client went away). */
async function* statesOf(source: HealthSource, signal: AbortSignal): AsyncGenerator<ServingState> {
  const pending: ServingState[] = [source.state()];
  let wake = () => {};
  const unsubscribe = source.subscribe((state) => {
    pending.push(state);
    wake();
  });
  const onAbort = () => wake();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      const next = pending.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
