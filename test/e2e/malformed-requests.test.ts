import { gzipSync } from "node:zlib";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthClient, detailsOf } from "../support/clients.js";
import {
  envelope,
  errorFromConnectResponse,
  errorFromGrpcStatus,
  grpcWebTrailer,
  http1Request,
  http2Request,
  type RawResponse,
} from "../support/raw-requests.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// connect rejects these before a handler runs; the server must answer them in the service's own
// shape (src/rpc/framework-refusals.ts), never as INTERNAL or an HTTP 5xx, and keep serving.

const PATH = "/auth.v1.AuthService/RequestOtp";
const GARBAGE = Buffer.from([0xff, 0xff, 0xff]);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    OTP_REQUEST_LIMIT: "1000/1h",
    OTP_IP_REQUEST_LIMIT: "off",
    SERVICE_TOKENS: SERVICE_TOKEN,
  });
});

afterAll(async () => {
  await server.close();
});

/** The INVALID_ARGUMENT row for a body the service cannot read: BadRequest names `body`. */
function expectBodyRefused(error: ConnectError) {
  const { errorInfo, badRequest, retryInfo } = detailsOf(error);
  expect({ code: Code[error.code], reason: errorInfo?.reason, domain: errorInfo?.domain }).toEqual({
    code: Code[Code.InvalidArgument],
    reason: "INVALID_ARGUMENT",
    domain: "auth.v1",
  });
  expect(badRequest?.fieldViolations.map((violation) => violation.field)).toEqual(["body"]);
  expect(retryInfo).toBeUndefined();
}

function expectTooLarge(error: ConnectError) {
  const { errorInfo, retryInfo } = detailsOf(error);
  expect({ code: Code[error.code], reason: errorInfo?.reason, domain: errorInfo?.domain }).toEqual({
    code: Code[Code.ResourceExhausted],
    reason: "MESSAGE_TOO_LARGE",
    domain: "auth.v1",
  });
  expect(retryInfo).toBeUndefined();
}

/** A Connect unary error: HTTP 4xx with the error as JSON. */
function connectError(res: RawResponse): ConnectError {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.headers.get("content-type")).toBe("application/json");
  return errorFromConnectResponse(res.status, res.body, res.headers);
}

/** The server still answers a well-formed request, and nothing it saw was unexpected. */
async function expectStillServing() {
  const client = createAuthClient("grpc", server.baseUrl);
  expect((await client.getStatus({ email: "still@example.com" }, asService)).authenticated).toBe(
    false,
  );
  expect(server.internalErrors).toEqual([]);
}

const json = { "content-type": "application/json" };

describe("Connect: a body the service cannot read is INVALID_ARGUMENT naming body", () => {
  const deep = 32_000; // nesting that still fits in 64 KiB
  it.each<{ scenario: string; headers: Record<string, string>; body: string | Buffer }>([
    {
      scenario: "an undecodable binary body",
      headers: { "content-type": "application/proto" },
      body: GARBAGE,
    },
    { scenario: "unparsable JSON", headers: json, body: '{"email":' },
    { scenario: "JSON with a number for a string", headers: json, body: '{"email":42}' },
    { scenario: "JSON with an object for a string", headers: json, body: '{"email":{}}' },
    { scenario: "JSON that is an array, not an object", headers: json, body: "[]" },
    {
      scenario: "JSON nested 32,000 arrays deep",
      headers: json,
      body: `${"[".repeat(deep)}${"]".repeat(deep)}`,
    },
    {
      scenario: "a string field nested 32,000 arrays deep",
      headers: json,
      body: `{"email":${"[".repeat(deep)}${"]".repeat(deep)}}`,
    },
    {
      scenario: "invalid UTF-8 inside a JSON string",
      headers: json,
      body: Buffer.concat([Buffer.from('{"email":"'), GARBAGE, Buffer.from('@example.com"}')]),
    },
    {
      scenario: "a content type the service does not speak (text/plain, not 415)",
      headers: { "content-type": "text/plain" },
      body: '{"email":"ada@example.com"}',
    },
    { scenario: "no content type at all", headers: {}, body: '{"email":"ada@example.com"}' },
    {
      scenario: "a body declared gzip that is not",
      headers: { ...json, "content-encoding": "gzip" },
      body: '{"email":"ada@example.com"}',
    },
  ])("$scenario", async ({ headers, body }) => {
    const sent = server.sender.sent.length;
    const res = await http1Request(server.port, { path: PATH, headers, body });
    expect(res.status).toBe(400);
    expectBodyRefused(connectError(res));
    expect(server.sender.sent).toHaveLength(sent);
    await expectStillServing();
  });

  it("an unparsable message in a Connect GET", async () => {
    const res = await http1Request(server.port, {
      method: "GET",
      path: "/auth.v1.AuthService/GetStatus?encoding=json&message=%7B%22email%22%3A",
    });
    expect(res.status).toBe(400);
    expectBodyRefused(connectError(res));
    await expectStillServing();
  });
});

describe("Connect: bodies too large to read are MESSAGE_TOO_LARGE", () => {
  it("JSON nested 100,000 arrays deep", async () => {
    const body = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const res = await http1Request(server.port, { path: PATH, headers: json, body });
    expect(res.status).toBe(429);
    expectTooLarge(connectError(res));
    await expectStillServing();
  });

  it("a gzip body that inflates past the limit", async () => {
    const body = gzipSync(JSON.stringify({ email: `${"a".repeat(200_000)}@example.com` }));
    expect(body.length).toBeLessThan(64 * 1024);
    const res = await http1Request(server.port, {
      path: PATH,
      headers: { ...json, "content-encoding": "gzip" },
      body,
    });
    expect(res.status).toBe(429);
    expectTooLarge(connectError(res));
    await expectStillServing();
  });
});

describe("Connect: unknown JSON fields are ignored", () => {
  it("a request with an extra field is served as if it were absent", async () => {
    const res = await http1Request(server.port, {
      path: PATH,
      headers: json,
      body: '{"email":"extra@example.com","rememberMe":true}',
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).otpId).toBe(server.sender.sent.at(-1)?.otpId);
    expect(server.sender.sent.at(-1)?.email).toBe("extra@example.com");
    await expectStillServing();
  });
});

describe("gRPC: the status trailer carries the same error", () => {
  const grpc = (contentType = "application/grpc") => ({
    "content-type": contentType,
    te: "trailers",
  });

  it.each([
    { scenario: "an undecodable message", headers: grpc(), body: envelope(GARBAGE) },
    {
      scenario: "an envelope shorter than its header says",
      headers: grpc(),
      body: envelope(Buffer.from([0x0a, 0x05, 0x61])).subarray(0, 6),
    },
    {
      scenario: "invalid UTF-8 in a string field",
      headers: grpc(),
      body: envelope(Buffer.concat([Buffer.from([0x0a, 0x03]), GARBAGE])),
    },
    {
      scenario: "unparsable JSON (application/grpc+json)",
      headers: grpc("application/grpc+json"),
      body: envelope(Buffer.from('{"email":')),
    },
    {
      // Found by the wire fuzzer: connect answered this with INTERNAL.
      scenario: "a message flagged compressed in a request that named no compression",
      headers: grpc(),
      body: envelope(Buffer.from([0x0a, 0x01, 0x61]), 0x01),
    },
    // Found by the wire fuzzer once it required ErrorInfo: connect answered UNIMPLEMENTED bare.
    { scenario: "no message at all for a unary method", headers: grpc(), body: Buffer.alloc(0) },
    {
      scenario: "two messages for a unary method",
      headers: grpc(),
      body: Buffer.concat([envelope(Buffer.from([0x0a, 0x01, 0x61])), envelope(Buffer.alloc(0))]),
    },
  ])("$scenario", async ({ headers, body }) => {
    const res = await http2Request(server.port, { path: PATH, headers, body });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/grpc/);
    expectBodyRefused(errorFromGrpcStatus(res.trailers));
    await expectStillServing();
  });

  it("unknown protobuf fields are ignored", async () => {
    // field 1 (email) = "u@example.com", then field 99 as a varint
    const email = Buffer.from("u@example.com");
    const message = Buffer.concat([
      Buffer.from([0x0a, email.length]),
      email,
      Buffer.from([0x98, 0x06, 0x01]),
    ]);
    const res = await http2Request(server.port, {
      path: PATH,
      headers: grpc(),
      body: envelope(message),
    });
    expect(res.trailers.get("grpc-status")).toBe("0");
    expect(server.sender.sent.at(-1)?.email).toBe("u@example.com");
    await expectStillServing();
  });
});

describe("gRPC-Web: the trailer envelope carries the same error", () => {
  it.each([
    {
      scenario: "an undecodable message",
      contentType: "application/grpc-web+proto",
      body: envelope(GARBAGE),
    },
    {
      scenario: "unparsable JSON (application/grpc-web+json)",
      contentType: "application/grpc-web+json",
      body: envelope(Buffer.from('{"email":')),
    },
    {
      scenario: "no message at all",
      contentType: "application/grpc-web+proto",
      body: Buffer.alloc(0),
    },
  ])("$scenario", async ({ contentType, body }) => {
    const res = await fetch(`${server.baseUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(contentType);
    expectBodyRefused(errorFromGrpcStatus(grpcWebTrailer(new Uint8Array(await res.arrayBuffer()))));
    await expectStillServing();
  });
});
