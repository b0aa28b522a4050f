import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import {
  createAuthClient,
  createGrpcJsHealthClient,
  type Protocol,
  protocols,
  rejection,
} from "../support/clients.js";
import { createFailingStore } from "../support/fakes.js";
import { type Scrape, scrape } from "../support/prometheus-text.js";
import { envelope, http1Request, http2Request } from "../support/raw-requests.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const REQUEST_OTP = "auth.v1.AuthService/RequestOtp";
const VERIFY_OTP = "auth.v1.AuthService/VerifyOtp";
const GET_STATUS = "auth.v1.AuthService/GetStatus";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** How much each sample moved between two scrapes. */
function moved(before: Scrape, after: Scrape) {
  return (name: string, labels: Record<string, string> = {}) =>
    after.value(name, labels) - before.value(name, labels);
}

const rpc = (method: string, code: string, reason = "", listener = "main") => ({
  method,
  code,
  reason,
  listener,
});

describe("GET /metrics", () => {
  it("counts a scripted sequence of outcomes by exactly what happened", async () => {
    server = await startTestServer(
      { OTP_IP_REQUEST_LIMIT: "5/1h" },
      { codes: ["111111", "222222", "333333", "444444", "555555"] },
    );
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    const before = await scrape(server.baseUrl);

    // Issued and verified.
    await client.requestOtp({ email: "ada@example.com" });
    await client.verifyOtp({ email: "ada@example.com", otp: "111111" });
    // Issued once, then replayed: a replay issues no code.
    const headers = { "idempotency-key": "key-1" };
    await client.requestOtp({ email: "ada@example.com" }, { headers });
    await client.requestOtp({ email: "ada@example.com" }, { headers });
    // Two wrong codes, then the third locks.
    for (const otp of ["999999", "999998", "999997"]) {
      await rejection(client.verifyOtp({ email: "ada@example.com", otp }));
    }
    // Refused by the lock (unbound verification; a request would be served).
    await rejection(client.verifyOtp({ email: "ada@example.com", otp: "222222" }));
    // Three codes for another email, then its request limit (3/1h).
    for (let i = 0; i < 4; i++) {
      await client.requestOtp({ email: "bob@example.com" }).catch(() => undefined);
    }
    // Five codes issued from this address: the sixth is over the IP limit.
    await rejection(client.requestOtp({ email: "cy@example.com" }));
    // A body connect refuses before any handler runs.
    await http1Request(server.port, {
      path: `/${REQUEST_OTP}`,
      headers: { "content-type": "application/json" },
      body: '{"email":',
    });

    const delta = moved(before, await scrape(server.baseUrl));
    expect({
      issued: delta("otp_auth_codes_issued_total"),
      verified: delta("otp_auth_codes_verified_total"),
      failed: delta("otp_auth_codes_failed_total"),
      locked: delta("otp_auth_codes_locked_total"),
      lockRefusals: delta("otp_auth_limit_refusals_total", { reason: "OTP_LOCKED" }),
      emailLimitRefusals: delta("otp_auth_limit_refusals_total", { reason: "OTP_REQUEST_LIMIT" }),
      ipLimitRefusals: delta("otp_auth_limit_refusals_total", { reason: "IP_REQUEST_LIMIT" }),
      deliveryFailures: delta("otp_auth_delivery_failures_total"),
    }).toEqual({
      issued: 5,
      verified: 1,
      failed: 3,
      locked: 1,
      // The wrong code that locks, and the verification refused by the lock.
      lockRefusals: 2,
      emailLimitRefusals: 1,
      ipLimitRefusals: 1,
      deliveryFailures: 0,
    });
    const requests = "otp_auth_rpc_requests_total";
    expect({
      requestOk: delta(requests, rpc(REQUEST_OTP, "OK")),
      requestLocked: delta(requests, rpc(REQUEST_OTP, "RESOURCE_EXHAUSTED", "OTP_LOCKED")),
      requestLimited: delta(requests, rpc(REQUEST_OTP, "RESOURCE_EXHAUSTED", "OTP_REQUEST_LIMIT")),
      requestIpLimited: delta(requests, rpc(REQUEST_OTP, "RESOURCE_EXHAUSTED", "IP_REQUEST_LIMIT")),
      requestBadBody: delta(requests, rpc(REQUEST_OTP, "INVALID_ARGUMENT", "INVALID_ARGUMENT")),
      verifyOk: delta(requests, rpc(VERIFY_OTP, "OK")),
      verifyMismatch: delta(requests, rpc(VERIFY_OTP, "UNAUTHENTICATED", "OTP_MISMATCH")),
      verifyLocked: delta(requests, rpc(VERIFY_OTP, "RESOURCE_EXHAUSTED", "OTP_LOCKED")),
      requestTimed: delta("otp_auth_rpc_duration_seconds_count", { method: REQUEST_OTP }),
      verifyTimed: delta("otp_auth_rpc_duration_seconds_count", { method: VERIFY_OTP }),
    }).toEqual({
      requestOk: 6,
      requestLocked: 0,
      requestLimited: 1,
      requestIpLimited: 1,
      requestBadBody: 1,
      verifyOk: 1,
      verifyMismatch: 2,
      verifyLocked: 2,
      requestTimed: 9,
      verifyTimed: 5,
    });
  });

  it.each<Protocol>(protocols)(
    "counts a refusal over %s by its code and reason",
    async (protocol) => {
      server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
      const client = createAuthClient(protocol, server.baseUrl);
      const before = await scrape(server.baseUrl);

      const error = await rejection(
        client.verifyOtp({ email: "nobody@example.com", otp: "123456" }),
      );
      await client.getStatus({ email: "nobody@example.com" }, asService);

      expect(error.code).toBe(Code.NotFound);
      const delta = moved(before, await scrape(server.baseUrl));
      const requests = "otp_auth_rpc_requests_total";
      expect(delta(requests, rpc(VERIFY_OTP, "NOT_FOUND", "OTP_NOT_FOUND"))).toBe(1);
      expect(delta(requests, rpc(GET_STATUS, "OK"))).toBe(1);
    },
  );

  it("counts bodies that connect refuses before a handler runs, in every protocol", async () => {
    server = await startTestServer();
    const garbage = Buffer.from([0xff, 0xff, 0xff]);
    const path = `/${REQUEST_OTP}`;
    const before = await scrape(server.baseUrl);

    await http1Request(server.port, {
      path,
      headers: { "content-type": "application/proto" },
      body: garbage,
    });
    await http2Request(server.port, {
      path,
      headers: { "content-type": "application/grpc", te: "trailers" },
      body: envelope(garbage),
    });
    await http1Request(server.port, {
      path,
      headers: { "content-type": "application/grpc-web+proto" },
      body: envelope(garbage),
    });
    await http1Request(server.port, {
      path,
      headers: { "content-type": "text/plain" },
      body: "{}",
    });

    const delta = moved(before, await scrape(server.baseUrl));
    expect(
      delta(
        "otp_auth_rpc_requests_total",
        rpc(REQUEST_OTP, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
      ),
    ).toBe(4);
    expect(delta("otp_auth_codes_issued_total")).toBe(0);
  });

  it("counts failed deliveries", async () => {
    server = await startTestServer();
    const client = createAuthClient("grpc", server.baseUrl);
    server.sender.fail(new Error("the mail server said no"));
    const before = await scrape(server.baseUrl);

    const error = await rejection(client.requestOtp({ email: "ada@example.com" }));

    expect(error.code).toBe(Code.Unavailable);
    const delta = moved(before, await scrape(server.baseUrl));
    expect(delta("otp_auth_delivery_failures_total")).toBe(1);
    expect(delta("otp_auth_codes_issued_total")).toBe(0);
    expect(
      delta("otp_auth_rpc_requests_total", rpc(REQUEST_OTP, "UNAVAILABLE", "DELIVERY_FAILED")),
    ).toBe(1);
  });

  it.each([
    {
      kind: "storage_unavailable",
      error: () => new OtpError({ kind: "storage_unavailable" }, "the database cannot be reached"),
      code: "UNAVAILABLE",
      reason: "STORAGE_UNAVAILABLE",
    },
    {
      kind: "unexpected",
      error: () => new Error("a bug in the store"),
      code: "INTERNAL",
      reason: "",
    },
  ])("counts $kind store errors by operation", async ({ kind, error, code, reason }) => {
    server = await startTestServer(
      { SERVICE_TOKENS: SERVICE_TOKEN },
      { store: createFailingStore(error) },
    );
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    const before = await scrape(server.baseUrl);

    await rejection(client.getStatus({ email: "ada@example.com" }, asService));

    const delta = moved(before, await scrape(server.baseUrl));
    expect(delta("otp_auth_store_errors_total", { kind, operation: "readAuthentication" })).toBe(1);
    expect(delta("otp_auth_rpc_requests_total", rpc(GET_STATUS, code, reason))).toBe(1);
  });

  it("counts other services' RPCs too, and serves the process metrics", async () => {
    server = await startTestServer();
    const health = createGrpcJsHealthClient(server.port);
    await health.check("");
    health.close();

    const response = await fetch(`${server.baseUrl}/metrics`);
    const text = await response.text();

    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(text).toMatch(
      /^otp_auth_rpc_requests_total\{method="grpc\.health\.v1\.Health\/Check",code="OK",reason="",listener="main",protocol="grpc"\} 1$/m,
    );
    for (const name of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(text).toMatch(new RegExp(`^${name} `, "m"));
    }
  });

  it("answers only GET and HEAD", async () => {
    server = await startTestServer();

    const post = await fetch(`${server.baseUrl}/metrics`, { method: "POST" });
    const head = await fetch(`${server.baseUrl}/metrics`, { method: "HEAD" });

    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });
});
