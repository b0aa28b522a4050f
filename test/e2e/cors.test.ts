import { create, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { RequestOtpRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import { http2Request } from "../support/raw-requests.js";
import { SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// CORS as plain HTTP sees it: preflights and the headers on real answers, for listed and
// unlisted origins (browser-cors.test.ts has Chromium act on them).

const APP = "https://app.example.com";
const OTHER = "https://evil.example.com";
const REQUEST_OTP = "/auth.v1.AuthService/RequestOtp";

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(env: Record<string, string>) {
  server = await startTestServer(env);
  return server;
}

function preflight(base: string, path: string, origin: string) {
  return fetch(`${base}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version,idempotency-key",
    },
  });
}

function requestOtp(base: string, origin: string, email: string) {
  return fetch(`${base}${REQUEST_OTP}`, {
    method: "POST",
    headers: { origin, "content-type": "application/json" },
    body: JSON.stringify({ email }),
  });
}

/** Every Access-Control-* header of a response, by name. */
function corsHeaders(res: Response): Record<string, string> {
  return Object.fromEntries(
    [...res.headers].filter(([name]) => name.startsWith("access-control-")),
  );
}

function listOf(res: Response, name: string): string[] {
  return (res.headers.get(name) ?? "").split(",").map((item) => item.trim().toLowerCase());
}

describe("CORS with CORS_ORIGINS listing origins", () => {
  it("answers a preflight from a listed origin with methods, request headers and max-age", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: `${APP},http://localhost:5173` });
    const res = await preflight(baseUrl, REQUEST_OTP, APP);

    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listOf(res, "vary")).toContain("origin");
    expect(listOf(res, "access-control-allow-methods")).toEqual(["post", "get"]);
    expect(listOf(res, "access-control-allow-headers")).toEqual(
      expect.arrayContaining([
        "content-type",
        "connect-protocol-version",
        "connect-timeout-ms",
        "grpc-timeout",
        "x-grpc-web",
        "x-user-agent",
        "idempotency-key",
        "x-request-id",
      ]),
    );
    expect(res.headers.get("access-control-max-age")).toBe("7200");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("refuses a preflight from an unlisted origin with 403 and no CORS headers", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: APP });
    const res = await preflight(baseUrl, REQUEST_OTP, OTHER);

    expect(res.status).toBe(403);
    expect(corsHeaders(res)).toEqual({});
  });

  it("lets a listed origin read the answer, retry-after and the gRPC status headers", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: APP, OTP_REQUEST_LIMIT: "1/1h" });
    const issued = await requestOtp(baseUrl, APP, "ann@example.com");
    expect(issued.status).toBe(200);
    expect(issued.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listOf(issued, "vary")).toContain("origin");

    const limited = await requestOtp(baseUrl, APP, "ann@example.com");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3600");
    expect(limited.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listOf(limited, "access-control-expose-headers")).toEqual(
      expect.arrayContaining([
        "retry-after",
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "x-request-id",
      ]),
    );
    expect(limited.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("gives gRPC-Web and Connect GET answers the same CORS headers", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: APP, SERVICE_TOKENS: SERVICE_TOKEN });
    const message = toBinary(
      RequestOtpRequestSchema,
      create(RequestOtpRequestSchema, { email: "bo@example.com" }),
    );
    const grpcWeb = await fetch(`${baseUrl}${REQUEST_OTP}`, {
      method: "POST",
      headers: { origin: APP, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: encodeEnvelope(0, message),
    });
    expect(grpcWeb.status).toBe(200);
    expect(grpcWeb.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listOf(grpcWeb, "access-control-expose-headers")).toContain("grpc-status");

    const query = new URLSearchParams({ encoding: "json", message: '{"email":"bo@example.com"}' });
    const get = await fetch(`${baseUrl}/auth.v1.AuthService/GetStatus?${query}`, {
      headers: { origin: APP, ...serviceAuthorization },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("sends the same headers over HTTP/2", async () => {
    const { port } = await start({ CORS_ORIGINS: APP });
    const res = await http2Request(port, {
      path: REQUEST_OTP,
      headers: { origin: APP, "content-type": "application/json" },
      body: JSON.stringify({ email: "h2@example.com" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("vary")).toBe("Origin");
  });

  it("serves an unlisted origin's request without CORS headers, so its script reads nothing", async () => {
    const { baseUrl, sender } = await start({ CORS_ORIGINS: APP });
    const res = await requestOtp(baseUrl, OTHER, "cy@example.com");

    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({});
    expect(listOf(res, "vary")).toContain("origin");
    expect(sender.sent).toHaveLength(1);
  });

  it("answers preflights only for RPC paths", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: APP });
    for (const path of ["/healthz", "/", "/auth.v1.AuthService/NoSuchMethod"]) {
      const res = await preflight(baseUrl, path, APP);
      expect(res.status, path).not.toBe(204);
      expect(corsHeaders(res), path).toEqual({});
    }
  });
});

describe("CORS with CORS_ORIGINS=*", () => {
  it("allows any origin with `*`, never with credentials", async () => {
    const { baseUrl } = await start({ CORS_ORIGINS: "*" });
    const pre = await preflight(baseUrl, REQUEST_OTP, OTHER);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();

    const res = await requestOtp(baseUrl, OTHER, "dee@example.com");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(listOf(res, "access-control-expose-headers")).toContain("retry-after");
  });
});

describe("CORS without CORS_ORIGINS", () => {
  it("sends no CORS headers at all and answers no preflight", async () => {
    const { baseUrl } = await start({});
    const pre = await preflight(baseUrl, REQUEST_OTP, APP);
    expect(pre.status).not.toBe(204);
    expect(corsHeaders(pre)).toEqual({});

    const res = await requestOtp(baseUrl, APP, "eve@example.com");
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({});
    expect(res.headers.get("vary")).toBeNull();
  });
});
