import { Code, createClient } from "@connectrpc/connect";
import type { ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/health/v1/health_pb.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createGrpcJsHealthClient, createTransport, rejection } from "../support/clients.js";
import { createPingSwitchStore } from "../support/fakes.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const AUTH_SERVICE = "auth.v1.AuthService";
// Short, so that a test waits moments, not seconds, for the monitor to notice a change.
const HEALTH_CHECK_INTERVAL_MS = 20;

let server: TestServer;
let closed: Promise<void> | undefined;
const cleanups: (() => void)[] = [];

async function start() {
  const outage = createPingSwitchStore(createMemoryStore());
  server = await startTestServer(
    {},
    { store: outage.store, healthCheckIntervalMs: HEALTH_CHECK_INTERVAL_MS },
  );
  closed = undefined;
  return outage;
}

/** Begins the server's shutdown once; afterEach waits for the same close. */
function closeServer(graceMs: number): Promise<void> {
  closed ??= server.app.close(graceMs);
  return closed;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) {
    cleanup();
  }
  await closeServer(1_000);
});

function connectHealthClient() {
  return createClient(Health, createTransport("grpc", server.baseUrl));
}

/** A @grpc/grpc-js health client of the main port, or of GRPC_PORT (grpc-js's own server). */
function grpcJsHealthClient(port = server.port) {
  const client = createGrpcJsHealthClient(port);
  cleanups.push(() => client.close());
  return client;
}

/** A connect-node Watch stream, read one message at a time; cancelled after the test. */
function connectWatch(service: string) {
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const stream = connectHealthClient()
    .watch({ service }, { signal: abort.signal })
    [Symbol.asyncIterator]();
  return {
    async next(): Promise<ServingStatus> {
      const result = await stream.next();
      if (result.done === true) {
        throw new Error("the Watch stream ended");
      }
      return result.value.status;
    },
    /** Resolves once the server has ended the stream without an error. */
    async end(): Promise<void> {
      const result = await stream.next();
      expect(result.done).toBe(true);
    },
  };
}

/** A @grpc/grpc-js Watch stream, read one message at a time; cancelled after the test. */
function grpcJsWatch(service: string, port = server.port) {
  const call = grpcJsHealthClient(port).watch(service);
  cleanups.push(() => call.cancel());
  const stream = call[Symbol.asyncIterator]() as AsyncIterator<{ status: ServingStatus }>;
  return {
    async next(): Promise<ServingStatus> {
      const result = await stream.next();
      if (result.done === true) {
        throw new Error("the Watch stream ended");
      }
      return result.value.status;
    },
    async end(): Promise<void> {
      const result = await stream.next();
      expect(result.done).toBe(true);
    },
  };
}

const watchers = {
  "connect-node gRPC": connectWatch,
  "@grpc/grpc-js": (service: string) => grpcJsWatch(service),
  "@grpc/grpc-js at GRPC_PORT": (service: string) =>
    grpcJsWatch(service, server.grpcPort as number),
};

describe("grpc.health.v1.Health Check", () => {
  it("reports the server and AuthService SERVING over connect-node gRPC", async () => {
    await start();
    const client = connectHealthClient();
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: AUTH_SERVICE })).status).toBe(ServingStatus.SERVING);
  });

  it("reports the server and AuthService SERVING over @grpc/grpc-js", async () => {
    await start();
    const client = grpcJsHealthClient();
    expect(await client.check("")).toBe(ServingStatus.SERVING);
    expect(await client.check(AUTH_SERVICE)).toBe(ServingStatus.SERVING);
  });

  it("reports the server and AuthService SERVING at GRPC_PORT (grpc-health-check)", async () => {
    const outage = await start();
    const client = grpcJsHealthClient(server.grpcPort as number);
    expect(await client.check("")).toBe(ServingStatus.SERVING);
    expect(await client.check(AUTH_SERVICE)).toBe(ServingStatus.SERVING);
    expect(await client.check("auth.v1.AdminService")).toBe(ServingStatus.SERVING);
    const error = await client.check("auth.v1.Nope").then(
      () => expect.fail("Check of an unknown service succeeded"),
      (reason: ServiceError) => reason,
    );
    expect(error.code).toBe(Code.NotFound);
    outage.setReachable(false);
    await expect.poll(() => client.check(AUTH_SERVICE)).toBe(ServingStatus.NOT_SERVING);
  });

  it("answers NOT_FOUND for a service the server does not have", async () => {
    await start();
    const error = await rejection(connectHealthClient().check({ service: "auth.v1.Nope" }));
    expect(error.code).toBe(Code.NotFound);
    const grpcJsError = await grpcJsHealthClient()
      .check("auth.v1.Nope")
      .then(
        () => expect.fail("Check of an unknown service succeeded"),
        (reason: ServiceError) => reason,
      );
    expect(grpcJsError.code).toBe(Code.NotFound);
  });

  it("lists the server, AuthService and AdminService with their status", async () => {
    await start();
    const { statuses } = await connectHealthClient().list({});
    expect(Object.keys(statuses).sort()).toEqual(["", "auth.v1.AdminService", AUTH_SERVICE]);
    expect(statuses[AUTH_SERVICE]?.status).toBe(ServingStatus.SERVING);
    expect(statuses["auth.v1.AdminService"]?.status).toBe(ServingStatus.SERVING);
  });
});

describe.each(Object.entries(watchers))("grpc.health.v1.Health Watch over %s", (_, watch) => {
  it("sends the status, then NOT_SERVING while storage is unreachable, then SERVING again", async () => {
    const outage = await start();
    const overall = watch("");
    const auth = watch(AUTH_SERVICE);
    expect(await overall.next()).toBe(ServingStatus.SERVING);
    expect(await auth.next()).toBe(ServingStatus.SERVING);

    outage.setReachable(false);
    expect(await overall.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await auth.next()).toBe(ServingStatus.NOT_SERVING);
    const client = connectHealthClient();
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await client.check({ service: AUTH_SERVICE })).status).toBe(ServingStatus.NOT_SERVING);

    outage.setReachable(true);
    expect(await overall.next()).toBe(ServingStatus.SERVING);
    expect(await auth.next()).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: AUTH_SERVICE })).status).toBe(ServingStatus.SERVING);
  });

  it("sends NOT_SERVING once shutdown begins, then ends, so close need not wait out its grace", async () => {
    await start();
    const overall = watch("");
    const auth = watch(AUTH_SERVICE);
    expect(await overall.next()).toBe(ServingStatus.SERVING);
    expect(await auth.next()).toBe(ServingStatus.SERVING);

    // A grace period far beyond the test timeout: close only finishes in time if watchers end.
    const closing = closeServer(60_000);
    expect(await overall.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await auth.next()).toBe(ServingStatus.NOT_SERVING);
    await overall.end();
    await auth.end();
    await closing;
  });

  it("sends SERVICE_UNKNOWN for a service the server does not have", async () => {
    await start();
    expect(await watch("auth.v1.Nope").next()).toBe(ServingStatus.SERVICE_UNKNOWN);
  });
});

describe("HTTP probes", () => {
  it("/healthz and /readyz answer 200 while serving", async () => {
    await start();
    const live = await fetch(`${server.baseUrl}/healthz`);
    expect(live.status).toBe(200);
    expect(live.headers.get("cache-control")).toBe("no-store");
    expect(await live.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "SERVING" });
  });

  it("/readyz answers 503 while storage is unreachable, /healthz stays 200", async () => {
    const outage = await start();
    const watcher = connectWatch("");
    expect(await watcher.next()).toBe(ServingStatus.SERVING);
    outage.setReachable(false);
    expect(await watcher.next()).toBe(ServingStatus.NOT_SERVING);

    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "NOT_SERVING", reason: "storage_unreachable" });
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);

    outage.setReachable(true);
    expect(await watcher.next()).toBe(ServingStatus.SERVING);
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
  });

  it("answers HEAD without a body, refuses other methods, and keeps 404 for other paths", async () => {
    await start();
    const head = await fetch(`${server.baseUrl}/readyz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const post = await fetch(`${server.baseUrl}/healthz`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(404);
  });
});
