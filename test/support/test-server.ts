import { type Config, loadConfig } from "../../src/config/load-config.js";
import type { OtpStore } from "../../src/domain/otp-store.js";
import type { OtpSender } from "../../src/domain/ports.js";
import { createLogger } from "../../src/observability/logger.js";
import { type App, startApp } from "../../src/server/app.js";
import type { ConnectionLimits } from "../../src/server/connection-limits.js";
import { createFakeClock, createFixedRandom, createRecordingSender } from "./fakes.js";

export interface TestServer {
  readonly app: App;
  readonly port: number;
  /** The grpc-js door's port (any free one unless `env` sets GRPC_PORT), null when off. */
  readonly grpcPort: number | null;
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  readonly clock: ReturnType<typeof createFakeClock>;
  readonly sender: ReturnType<typeof createRecordingSender>;
  readonly internalErrors: unknown[];
  /** Every log entry so far, parsed (at the LOG_LEVEL `env` gives, info by default). */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Starts the real service on 127.0.0.1, port 0, with environment `env` (as the service would read
 * it), a fake clock and a recording sender (unless `sender` replaces it, or `realSender` keeps the
 * configured one). Codes are random unless `codes` fixes them.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: {
    codes?: string[];
    store?: OtpStore;
    sender?: OtpSender;
    /** Deliver with the sender `env` configures (OTP_SENDER…), as production does; no recording. */
    realSender?: boolean;
    /** How often the server pings its store for health (the service's default otherwise). */
    healthCheckIntervalMs?: number;
    /** Per-connection limits to use instead of the service's (short ones, say). */
    limits?: Partial<ConnectionLimits>;
  } = {},
): Promise<TestServer> {
  const config: Config = {
    ...loadConfig({ PORT: "0", GRPC_PORT: "0", HOST: "127.0.0.1", ...env }),
  };
  const clock = createFakeClock();
  const sender = createRecordingSender();
  const internalErrors: unknown[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: config.logLevel,
    destination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  const app = await startApp(config, {
    clock,
    ...(options.realSender ? {} : { sender: options.sender ?? sender }),
    ...(options.codes ? { random: createFixedRandom(options.codes) } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.healthCheckIntervalMs === undefined
      ? {}
      : { healthCheckIntervalMs: options.healthCheckIntervalMs }),
    ...(options.limits ? { connectionLimits: options.limits } : {}),
    onInternalError: (_procedure, error) => internalErrors.push(error),
    logger,
  });
  return {
    app,
    port: app.port,
    grpcPort: app.grpcPort,
    baseUrl: `http://127.0.0.1:${app.port}`,
    clock,
    sender,
    internalErrors,
    logs,
    close: () => app.close(1_000),
  };
}

/**
 * The two doors gRPC comes in by (SPEC.md "Two doors for gRPC"), by the port each listens on:
 * connect-node's on the main port and grpc-js's own server on GRPC_PORT.
 */
export const grpcDoors = {
  "the main port": (server: TestServer) => server.port,
  GRPC_PORT: (server: TestServer) => server.grpcPort as number,
} as const;
export type GrpcDoor = keyof typeof grpcDoors;
