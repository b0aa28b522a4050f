import { randomBytes } from "node:crypto";
import type { Config } from "../config/load-config.js";
import { createSender } from "../delivery/create-sender.js";
import { createOtpService } from "../domain/otp-service.js";
import type { OtpStore } from "../domain/otp-store.js";
import type { Clock, OtpSender, RandomSource } from "../domain/ports.js";
import { cryptoRandom } from "../platform/crypto-random.js";
import { systemClock } from "../platform/system-clock.js";
import { createClientAddressResolver } from "../rpc/client-address.js";
import { createRoutes } from "../rpc/routes.js";
import { createHealthMonitor } from "./health-monitor.js";
import { type Listener, listen } from "./listener.js";
import { createNodeHandler } from "./node-handler.js";
import { openStorage, type Storage } from "./open-storage.js";
import { createProbeHandler } from "./probes.js";

/** Parts of the world that tests may replace; production uses the defaults. */
export interface AppWorld {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly sender?: OtpSender;
  readonly store?: OtpStore;
  /** Where unexpected errors are reported (stderr by default). */
  readonly onInternalError?: (procedure: string, error: unknown) => void;
  /** How often storage is pinged for health and readiness; tests shorten it. */
  readonly healthCheckIntervalMs?: number;
}

export interface App {
  readonly port: number;
  /**
   * Reports NOT_SERVING, stops accepting, waits up to `graceMs` for requests in flight, then
   * closes the store.
   */
  close(graceMs?: number): Promise<void>;
}

/** How often expired codes, limit windows and idempotency records are swept from the store. */
const PURGE_INTERVAL_MS = 60_000;
/** How often storage is pinged for health and readiness, unless the world says otherwise. */
const HEALTH_CHECK_INTERVAL_MS = 2_000;
/** A storage ping that takes longer than this counts as storage unreachable. */
const HEALTH_CHECK_TIMEOUT_MS = 2_000;

/** Wires configuration and world into a listening service. */
export async function startApp(config: Config, world: AppWorld = {}): Promise<App> {
  const storage: Storage = world.store
    ? { store: world.store, clock: systemClock }
    : await openStorage(config, (line) => console.log(`otp-auth: ${line}`));
  const store = storage.store;
  const clock = world.clock ?? storage.clock;
  const service = createOtpService({
    store,
    clock,
    random: world.random ?? cryptoRandom,
    sender: world.sender ?? createSender(config.sender, { clock }),
    policy: config.policy,
    // Without a configured key, codes only need to verify within this process.
    hmacKey: config.hmacKey ?? randomBytes(32),
  });
  const health = createHealthMonitor({
    ping: () => store.ping(),
    intervalMs: world.healthCheckIntervalMs ?? HEALTH_CHECK_INTERVAL_MS,
    timeoutMs: HEALTH_CHECK_TIMEOUT_MS,
  });
  // Knowing storage's state before listening, the first health check already answers truly.
  await health.start();
  const routes = createRoutes(service, {
    resolveClientAddress: createClientAddressResolver(config.trustProxy),
    onInternalError:
      world.onInternalError ??
      ((procedure, error) => console.error(`${procedure} failed unexpectedly:`, error)),
    health,
  });
  const listener: Listener = await listen(
    createNodeHandler(routes, createProbeHandler(health)),
    config,
  );
  const purge = setInterval(() => {
    store.purgeExpired(clock.now()).catch((error: unknown) => {
      console.error("purging expired records failed:", error);
    });
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    port: listener.port,
    async close(graceMs = 10_000) {
      // First, so that health watchers and probes learn it before connections start to close.
      health.shutdown();
      clearInterval(purge);
      await listener.close(graceMs);
      await store.close();
    },
  };
}
