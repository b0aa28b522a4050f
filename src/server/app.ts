import { randomBytes } from "node:crypto";
import type { Config } from "../config/load-config.js";
import { createSender } from "../delivery/create-sender.js";
import { createOtpService } from "../domain/otp-service.js";
import type { OtpStore } from "../domain/otp-store.js";
import type { Clock, OtpSender, RandomSource } from "../domain/ports.js";
import { createCallObserver } from "../observability/call-observer.js";
import { instrumentStore } from "../observability/instrumented-store.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import { cryptoRandom } from "../platform/crypto-random.js";
import { systemClock } from "../platform/system-clock.js";
import { createAdminHandlers } from "../rpc/admin-handlers.js";
import { createAuthHandlers } from "../rpc/auth-handlers.js";
import { createCallPipeline } from "../rpc/call-pipeline.js";
import { createClientAddressResolver } from "../rpc/client-address.js";
import { createRoutes } from "../rpc/routes.js";
import { createAccessTokenSigner } from "../tokens/access-token-signer.js";
import { createAccessTokenVerifier } from "../tokens/access-token-verifier.js";
import { ephemeralKeySet } from "../tokens/signing-keys.js";
import { createConnectDoor } from "./connect/connect-door.js";
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "./connection-limits.js";
import { createCors } from "./cors.js";
import { listenGrpc } from "./grpc-js/grpc-listener.js";
import { createHealthMonitor } from "./health-monitor.js";
import { createHttpSurface } from "./http-surface.js";
import { type Listener, listen } from "./listener.js";
import { createLoginPageHandler } from "./login-page.js";
import { createMetricsHandler } from "./metrics-endpoint.js";
import { createIntrospectionDoor } from "./oauth/introspection-door.js";
import { openStorage, type Storage } from "./open-storage.js";
import { createProbeHandler } from "./probes.js";
import { createPublicDocumentsHandler, OPENAPI_PATH, tokenDocuments } from "./public-documents.js";
import { createOpenApiDocument, openApiText } from "./rest/openapi/openapi-document.js";
import { createRestDoor } from "./rest/rest-door.js";
import { createSeedBDoor } from "./seed-b/seed-b-door.js";
import { loadTlsKeyPair } from "./tls.js";

/** Parts of the world that tests may replace; production uses the defaults. */
export interface AppWorld {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly sender?: OtpSender;
  readonly store?: OtpStore;
  /** Where unexpected errors are reported (an error entry in the log by default). */
  readonly onInternalError?: (procedure: string, error: unknown) => void;
  /** Where the service logs (JSON on stdout at config.logLevel by default). */
  readonly logger?: Logger;
  /** How often storage is pinged for health and readiness; tests shorten it. */
  readonly healthCheckIntervalMs?: number;
  /** Overrides of the per-connection limits (see connection-limits.ts); tests shorten them. */
  readonly connectionLimits?: Partial<ConnectionLimits>;
}

export interface App {
  readonly port: number;
  /** The grpc-js door's port (GRPC_PORT), or null when it is off. */
  readonly grpcPort: number | null;
  /**
   * Reports NOT_SERVING, stops accepting, waits up to `graceMs` for requests in flight, then
   * closes the store and the sender's connections.
   */
  close(graceMs?: number): Promise<void>;
  /**
   * Re-reads TLS_CERT_FILE and TLS_KEY_FILE (on SIGHUP) and serves new connections with them;
   * open connections keep theirs. Throws a ConfigError, and keeps the pair in use, when the files
   * are unusable; does nothing without TLS.
   */
  reloadTls(): void;
}

/** How often expired codes, limit windows and idempotency records are swept from the store. */
const PURGE_INTERVAL_MS = 60_000;
/** How often storage is pinged for health and readiness, unless the world says otherwise. */
const HEALTH_CHECK_INTERVAL_MS = 2_000;
/** A storage ping that takes longer than this counts as storage unreachable. */
const HEALTH_CHECK_TIMEOUT_MS = 2_000;

/** Wires configuration and world into a listening service. */
export async function startApp(config: Config, world: AppWorld = {}): Promise<App> {
  const logger = world.logger ?? createLogger({ level: config.logLevel });
  // Before anything is opened: an unusable certificate stops start-up naming its variable.
  const tls = config.tls === null ? undefined : loadTlsKeyPair(config.tls);
  const metrics = createMetrics();
  const storage: Storage = world.store
    ? { store: world.store, clock: systemClock }
    : await openStorage(config, (line) => logger.info(line));
  const store = instrumentStore(storage.store, metrics.recordStoreError);
  if (storage.primary !== undefined) {
    metrics.watchDatabasePrimary(storage.primary);
  }
  const clock = world.clock ?? storage.clock;
  const keys = config.accessTokens.keys ?? ephemeralKeySet();
  if (config.accessTokens.keys === null) {
    logger.warn(
      {
        kid: keys.signing.kid,
        detail:
          "ACCESS_TOKEN_KEYS is unset: access tokens are signed with a fresh ES256 key of this process only",
      },
      "ephemeral signing key",
    );
  }
  if (config.policy.statusByEmail === "open") {
    logger.warn(
      {
        detail:
          "STATUS_BY_EMAIL=open: anyone may ask whether an email has a live session (GetStatus by email, GET /auth/status?email=), without a service token",
      },
      "status by email is open",
    );
  }
  const sender = world.sender ?? createSender(config.sender, { clock });
  const service = createOtpService({
    store,
    clock,
    random: world.random ?? cryptoRandom,
    sender,
    policy: config.policy,
    // Without a configured key, codes only need to verify within this process.
    hmacKey: config.hmacKey ?? randomBytes(32),
    accessTokens: createAccessTokenSigner(keys.signing, config.accessTokens),
    // Every published key verifies, as every offline verifier's JWKS does.
    accessTokenVerifier: createAccessTokenVerifier(keys.keys),
    // iss, aud and client_id as the signer writes them (config: aud defaults to the issuer).
    tokenAuthority: config.accessTokens,
    serviceTokens: config.serviceTokens,
    events: metrics.events,
  });
  const health = createHealthMonitor({
    ping: () => store.ping(),
    intervalMs: world.healthCheckIntervalMs ?? HEALTH_CHECK_INTERVAL_MS,
    timeoutMs: HEALTH_CHECK_TIMEOUT_MS,
  });
  // Knowing storage's state before listening, the first health check already answers truly.
  await health.start();
  const pipeline = createCallPipeline({
    resolveClientAddress: createClientAddressResolver(config.trustProxy),
    observer: createCallObserver({ logger, metrics }),
    onInternalError:
      world.onInternalError ??
      ((method, error, requestId) =>
        logger.error({ requestId, method, err: error }, "unexpected error")),
    onDeliveryFailed: (otpId, cause, requestId) => {
      const reason = cause instanceof Error ? cause.message : String(cause);
      logger.error({ requestId, otpId, reason }, "delivery failed");
    },
  });
  // One set of handlers for every door (docs/development.md "The path of one call").
  const auth = createAuthHandlers(service);
  const admin = createAdminHandlers(service);
  const routes = createRoutes(auth, { health, admin });
  const rest = createRestDoor(routes, pipeline, config.serveLimits);
  const surface = createHttpSurface({
    pipeline,
    doors: [
      createConnectDoor(routes, pipeline, config.serveLimits),
      rest,
      createSeedBDoor(routes, pipeline, config.serveLimits),
      createIntrospectionDoor(routes, pipeline, config.serveLimits),
    ],
    // Not the API: /healthz and /readyz, then /metrics, the public documents (JWKS, discovery,
    // the OpenAPI document built from the routes the REST door serves), the login page, else
    // REST's 404/405.
    resources: createProbeHandler(
      health,
      createMetricsHandler(
        metrics.registry,
        createPublicDocumentsHandler(
          [
            ...tokenDocuments(keys, config.accessTokens),
            [
              OPENAPI_PATH,
              {
                contentType: "application/json",
                body: openApiText(createOpenApiDocument(rest.bindings)),
              },
            ],
          ],
          createLoginPageHandler(undefined, rest.answerUnrouted),
        ),
      ),
      storage.primary,
    ),
    cors: createCors(config.corsOrigins),
  });
  const limits = {
    ...DEFAULT_CONNECTION_LIMITS,
    maxConnections: config.maxConnections,
    ...world.connectionLimits,
  };
  const listener: Listener = await listen(surface, {
    port: config.port,
    host: config.host,
    limits,
    tls,
  });
  const grpcListener =
    config.grpcPort === null
      ? undefined
      : await listenGrpc({
          port: config.grpcPort,
          host: config.host,
          limits,
          serveLimits: config.serveLimits,
          pipeline,
          auth,
          admin,
          health,
          tls,
        }).catch(async (error: unknown) => {
          await listener.close(0);
          throw error;
        });
  const purge = setInterval(() => {
    store.purgeExpired(clock.now()).catch((error: unknown) => {
      logger.error({ err: error }, "purging expired records failed");
    });
  }, PURGE_INTERVAL_MS);
  purge.unref();

  return {
    port: listener.port,
    grpcPort: grpcListener?.port ?? null,
    async close(graceMs = config.shutdownGraceMs) {
      // First, so that health watchers and probes learn it before connections start to close.
      health.shutdown();
      clearInterval(purge);
      await Promise.all([listener.close(graceMs), grpcListener?.close(graceMs)]);
      await store.close();
      await sender.close?.();
    },
    reloadTls() {
      if (config.tls !== null) {
        const pair = loadTlsKeyPair(config.tls);
        listener.setTlsKeyPair(pair);
        grpcListener?.setTlsKeyPair(pair);
      }
    },
  };
}
