import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createAuthClient, detailsOf, rejection } from "../support/clients.js";
import type { DatabaseEngine, DatabaseServer } from "../support/database-engine.js";
import type { DatabaseRoute, OpenRoute } from "../support/database-route.js";
import { postgresEngine } from "../support/postgres-engine.js";
import { killServices, startService } from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";

// A database server of this suite's own, so that it can be stopped and started under a running
// service. postgres-outage.test.ts runs the suite with the service reaching PostgreSQL directly,
// postgres-outage-pgbouncer.system.test.ts through PgBouncer, mariadb-outage.system.test.ts on
// MariaDB (STORAGE=mysql).

let database: DatabaseServer;
let route: OpenRoute;

/**
 * The suite, with the service reaching a server of `engine` (PostgreSQL unless said) by `via`;
 * `recoveryMs` is how long the service may take to answer again after a fault.
 */
export function describeDatabaseOutage(
  via: DatabaseRoute,
  recoveryMs: number,
  engine: DatabaseEngine = postgresEngine,
): void {
  describe(`when ${engine.name} goes away, reached ${via.name}`, () => {
    beforeAll(async () => {
      database = await engine.startServer();
      route = await via.open(database.url);
    });

    afterAll(async () => {
      await route?.close();
      await database?.destroy();
    });

    afterEach(() => {
      killServices();
    });

    /** A service on a fresh database of the suite's server, and a gRPC client of it. */
    const startOnFreshDatabase = async () => {
      const { port } = await startService({
        STORAGE: engine.storage,
        ...route.env(await engine.createDatabase(database.url)),
        OTP_HMAC_KEY: "an-hmac-key-for-the-outage-test-0123456789",
        ACCESS_TOKEN_KEYS: writeKeySetFile(),
        SERVICE_TOKENS: SERVICE_TOKEN,
      });
      return { port, client: createAuthClient("grpc", `http://127.0.0.1:${port}`) };
    };
    const eventually = <T>(probe: () => Promise<T>, wanted: T) => until(probe, wanted, recoveryMs);
    const timeout = 10_000 + 2 * recoveryMs;

    it("RPCs fail fast with STORAGE_UNAVAILABLE, and the service recovers by itself", {
      timeout,
    }, async () => {
      const { port, client } = await startOnFreshDatabase();
      await client.requestOtp({ email: "ada@example.com" });

      const readiness = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
      expect(await readiness()).toBe(200);

      await database.stop();
      // Each call carries a client's usual deadline: the service's own refusal must beat it (the
      // pool refuses instead of queueing), or the client would see DEADLINE_EXCEEDED instead.
      const deadline = { timeoutMs: 5_000 };
      for (const call of [
        () => client.requestOtp({ email: "ada@example.com" }, deadline),
        () => client.verifyOtp({ email: "ada@example.com", otp: "123456" }, deadline),
        () => client.getStatus({ email: "ada@example.com" }, { ...deadline, ...asService }),
      ]) {
        const error = await rejection(call());
        expect(Code[error.code]).toBe(Code[Code.Unavailable]);
        expect(detailsOf(error).errorInfo?.reason).toBe("STORAGE_UNAVAILABLE");
      }

      // Readiness follows the storage health check (a ping every 2 seconds).
      expect(await eventually(readiness, 503)).toBe(503);

      await database.start();
      // The pool's old connections died with the server; the service gets new ones by itself.
      const answered = () =>
        client.getStatus({ email: "ada@example.com" }, asService).then(
          (status) => `authenticated=${status.authenticated}`,
          () => "refused",
        );
      expect(await eventually(answered, "authenticated=false")).toBe("authenticated=false");
      const issued = await client.requestOtp({ email: "ada@example.com" });
      expect(issued.remainingRequests).toBe(1);
      expect(await eventually(readiness, 200)).toBe(200);
    });

    it("a database that stops answering gives UNAVAILABLE before the client's deadline", {
      timeout,
    }, async () => {
      const { client } = await startOnFreshDatabase();
      await client.getStatus({ email: "ada@example.com" }, asService);
      database.freeze();
      try {
        // The bound is the client's deadline itself: answered UNAVAILABLE (the statement timeout,
        // 2 s) rather than DEADLINE_EXCEEDED when the client gives up at 5 s.
        const error = await rejection(
          client.getStatus({ email: "ada@example.com" }, { timeoutMs: 5_000, ...asService }),
        );
        expect(Code[error.code]).toBe(Code[Code.Unavailable]);
        expect(detailsOf(error).errorInfo?.reason).toBe("STORAGE_UNAVAILABLE");
      } finally {
        database.thaw();
      }
      const answered = () =>
        client.getStatus({ email: "ada@example.com" }, asService).then(
          (status) => `authenticated=${status.authenticated}`,
          () => "refused",
        );
      expect(await eventually(answered, "authenticated=false")).toBe("authenticated=false");
    });
  });
}

/** Calls `probe` until it returns `wanted` (or `patienceMs` pass) and returns its last answer. */
async function until<T>(probe: () => Promise<T>, wanted: T, patienceMs: number): Promise<T> {
  const deadline = Date.now() + patienceMs;
  let last = await probe();
  while (last !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe();
  }
  return last;
}
