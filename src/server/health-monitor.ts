import type { HealthSource, ServingState } from "../rpc/health.js";

export interface HealthMonitorOptions {
  /** Resolves when storage answers; rejects when it cannot be reached. */
  readonly ping: () => Promise<void>;
  /** Time from the end of one ping to the start of the next. */
  readonly intervalMs: number;
  /** A ping still unsettled after this long counts as unreachable storage. */
  readonly timeoutMs: number;
}

/** The server's serving state, kept current by pinging storage. */
export interface HealthMonitor extends HealthSource {
  /** Pings once, then every `intervalMs`; resolves once the first ping has settled. */
  start(): Promise<void>;
  /** Moves to "shutting_down" for good, tells subscribers at once, and stops pinging. */
  shutdown(): void;
}

/**
 * A monitor that is "serving" while storage answers pings and "storage_unreachable" while it does
 * not (a ping rejects or hangs past `timeoutMs`), until shutdown. Subscribers hear changes only.
 * Pings never overlap: the next is scheduled when the previous settles.
 */
export function createHealthMonitor(options: HealthMonitorOptions): HealthMonitor {
  let state: ServingState = "serving";
  const listeners = new Set<(state: ServingState) => void>();
  let timer: NodeJS.Timeout | undefined;

  const moveTo = (next: ServingState) => {
    // Nothing revives a server that is shutting down, not even a ping that answers late.
    if (next === state || state === "shutting_down") {
      return;
    }
    state = next;
    for (const listener of [...listeners]) {
      listener(state);
    }
  };

  const check = async () => {
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      deadline = setTimeout(() => reject(new Error("ping timed out")), options.timeoutMs);
    });
    try {
      await Promise.race([options.ping(), timedOut]);
      moveTo("serving");
    } catch {
      moveTo("storage_unreachable");
    } finally {
      clearTimeout(deadline);
    }
  };

  const schedule = () => {
    if (state === "shutting_down") {
      return;
    }
    timer = setTimeout(() => void check().then(schedule), options.intervalMs);
    // Health checks alone must not keep the process alive.
    timer.unref();
  };

  return {
    state: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start() {
      await check();
      schedule();
    },
    shutdown() {
      clearTimeout(timer);
      moveTo("shutting_down");
    },
  };
}
