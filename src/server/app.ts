import { randomBytes } from "node:crypto";
import type { Config } from "../config/load-config.js";
import { createConsoleSender } from "../delivery/console-sender.js";
import { createOtpService } from "../domain/otp-service.js";
import type { OtpStore } from "../domain/otp-store.js";
import type { Clock, OtpSender, RandomSource } from "../domain/ports.js";
import { cryptoRandom } from "../platform/crypto-random.js";
import { systemClock } from "../platform/system-clock.js";
import { createClientAddressResolver } from "../rpc/client-address.js";
import { createRoutes } from "../rpc/routes.js";
import { createMemoryStore } from "../storage/memory-store.js";
import { type Listener, listen } from "./listener.js";
import { createNodeHandler } from "./node-handler.js";

/** Parts of the world that tests may replace; production uses the defaults. */
export interface AppWorld {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly sender?: OtpSender;
  readonly store?: OtpStore;
  /** Where unexpected errors are reported (stderr by default). */
  readonly onInternalError?: (procedure: string, error: unknown) => void;
}

export interface App {
  readonly port: number;
  /** Stops accepting, waits up to `graceMs` for requests in flight, then closes the store. */
  close(graceMs?: number): Promise<void>;
}

/** How often expired codes, limit windows and idempotency records are swept from the store. */
const PURGE_INTERVAL_MS = 60_000;

/** Wires configuration and world into a listening service. */
export async function startApp(config: Config, world: AppWorld = {}): Promise<App> {
  const clock = world.clock ?? systemClock;
  const store = world.store ?? createMemoryStore();
  const service = createOtpService({
    store,
    clock,
    random: world.random ?? cryptoRandom,
    sender: world.sender ?? createConsoleSender(),
    policy: config.policy,
    // Without a configured key, codes only need to verify within this process.
    hmacKey: config.hmacKey ?? randomBytes(32),
  });
  const routes = createRoutes(service, {
    resolveClientAddress: createClientAddressResolver(config.trustProxy),
    onInternalError:
      world.onInternalError ??
      ((procedure, error) => console.error(`${procedure} failed unexpectedly:`, error)),
  });
  const listener: Listener = await listen(createNodeHandler(routes), config);
  const purge = setInterval(() => {
    store.purgeExpired(clock.now()).catch((error: unknown) => {
      console.error("purging expired records failed:", error);
    });
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    port: listener.port,
    async close(graceMs = 10_000) {
      clearInterval(purge);
      await listener.close(graceMs);
      await store.close();
    },
  };
}
