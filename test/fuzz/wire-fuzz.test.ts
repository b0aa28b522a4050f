import { readFileSync } from "node:fs";
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeleteUserRequestSchema,
  GetUserRequestSchema,
  ListAuditEventsRequestSchema,
  RevokeSessionsRequestSchema,
} from "../../gen/auth/v1/admin_pb.js";
import {
  GetStatusRequestSchema,
  RequestOtpRequestSchema,
  VerifyOtpRequestSchema,
} from "../../gen/auth/v1/auth_pb.js";
import { createAuthClient, detailsOf } from "../support/clients.js";
import {
  envelope,
  errorFromConnectResponse,
  grpcWebTrailer,
  http1Request,
  http2Request,
  type RawResponse,
} from "../support/raw-requests.js";
import { killServices, type ServiceProcess, startService } from "../support/service-process.js";
import { asService, SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";

// Random and malformed bytes sent to a real service process over every protocol, for every RPC.
// Whatever arrives, the answer is a success or a client error in the service's shape (a gRPC
// status on gRPC and gRPC-Web, an ErrorInfo on every protocol), never INTERNAL or UNKNOWN
// (grpc-status 13 or 2) nor an HTTP 5xx; the service keeps serving, and its memory stays
// flat.

// By path; AdminService's too, behind the service token every request presents.
const METHODS: Record<string, DescMessage> = {
  "auth.v1.AuthService/RequestOtp": RequestOtpRequestSchema,
  "auth.v1.AuthService/VerifyOtp": VerifyOtpRequestSchema,
  "auth.v1.AuthService/GetStatus": GetStatusRequestSchema,
  "auth.v1.AdminService/GetUser": GetUserRequestSchema,
  "auth.v1.AdminService/RevokeSessions": RevokeSessionsRequestSchema,
  "auth.v1.AdminService/DeleteUser": DeleteUserRequestSchema,
  "auth.v1.AdminService/ListAuditEvents": ListAuditEventsRequestSchema,
};
const PROTOCOLS = ["connect-json", "connect-proto", "grpc", "grpc-web"] as const;
type WireProtocol = (typeof PROTOCOLS)[number];
const CONTENT_TYPES: Record<WireProtocol, string> = {
  "connect-json": "application/json",
  "connect-proto": "application/proto",
  grpc: "application/grpc",
  "grpc-web": "application/grpc-web+proto",
};
const RUNS = 60;

let service: ServiceProcess;
let port: number;

beforeAll(async () => {
  ({ service, port } = await startService({
    OTP_REQUEST_LIMIT: "1000000/1h",
    OTP_IP_REQUEST_LIMIT: "off",
    OTP_SENDER: "discard",
    LOG_LEVEL: "silent",
    // Presented by every request, so that fuzzed GetStatus and AdminService requests get past
    // the gate to the request's own checks.
    SERVICE_TOKENS: SERVICE_TOKEN,
  }));
});

afterAll(() => {
  killServices();
});

/** A real request message for `method`, in binary. */
const validMessage = (method: string) =>
  toBinary(
    METHODS[method] as DescMessage,
    create(METHODS[method] as DescMessage, {
      email: "ada@example.com",
      purpose: "login",
      otp: "123456",
    }),
  );

/** Mutations of `bytes`: truncated, a byte changed, bytes inserted, an unknown field appended. */
const mutated = (bytes: Uint8Array) =>
  fc.oneof(
    fc.nat({ max: bytes.length }).map((at) => bytes.subarray(0, at)),
    fc
      .record({ at: fc.nat({ max: bytes.length - 1 }), value: fc.integer({ min: 0, max: 255 }) })
      .map(({ at, value }) => {
        const copy = Uint8Array.from(bytes);
        copy[at] = value;
        return copy;
      }),
    fc
      .record({ at: fc.nat({ max: bytes.length }), extra: fc.uint8Array({ maxLength: 16 }) })
      .map(({ at, extra }) => Buffer.concat([bytes.subarray(0, at), extra, bytes.subarray(at)])),
    // Field 99 as a varint, then as a length-delimited field claiming more bytes than follow.
    fc.constant(Buffer.concat([bytes, Buffer.from([0x98, 0x06, 0x2a])])),
    fc.constant(Buffer.concat([bytes, Buffer.from([0x9a, 0x06, 0xff, 0xff, 0x03, 0x01])])),
  );

/** Protobuf-ish payloads for `method`: random bytes or mutations of a real message. */
const protoPayload = (method: string) =>
  fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated(validMessage(method)));

/** JSON-ish payloads: random JSON, deeply nested, huge, invalid UTF-8, unknown fields. */
const jsonPayload = fc.oneof(
  fc.json().map((text) => Buffer.from(text)),
  fc
    .integer({ min: 1, max: 30_000 })
    .map((depth) => Buffer.from(`{"email":${"[".repeat(depth)}${"]".repeat(depth)}}`)),
  fc.integer({ min: 1, max: 30_000 }).map((depth) => Buffer.from(`${'{"a":'.repeat(depth)}1`)),
  fc.constant(Buffer.from(`{"email":"${"a".repeat(70 * 1024)}"}`)),
  fc
    .uint8Array({ minLength: 1, maxLength: 4 })
    .map((bad) =>
      Buffer.concat([
        Buffer.from('{"email":"ada'),
        Buffer.from(bad.map((byte) => byte | 0x80)),
        Buffer.from('@example.com"}'),
      ]),
    ),
  fc
    .dictionary(fc.string(), fc.jsonValue())
    .map((extra) =>
      Buffer.from(JSON.stringify({ ...extra, email: "ada@example.com", purpose: "login" })),
    ),
);

/** A body framed as gRPC/gRPC-Web: sometimes honestly, sometimes with lies in its prefix. */
const framed = (payload: fc.Arbitrary<Uint8Array>) =>
  fc.oneof(
    payload.map((bytes) => envelope(bytes)),
    fc
      .record({ bytes: payload, flags: fc.integer({ min: 0, max: 255 }) })
      .map(({ bytes, flags }) => envelope(bytes, flags)),
    fc
      .record({
        bytes: payload,
        length: fc.oneof(fc.nat({ max: 400 }), fc.constant(0xffffffff), fc.constant(70 * 1024)),
      })
      .map(({ bytes, length }) => {
        const body = envelope(bytes);
        body.writeUInt32BE(length, 1);
        return body;
      }),
    fc
      .record({ bytes: payload, cut: fc.nat({ max: 4 }) })
      .map(({ bytes, cut }) => envelope(bytes).subarray(0, cut)),
    payload.map((bytes) => Buffer.concat([envelope(bytes), envelope(bytes)])),
  );

/** Sends `body` to `method` over `protocol` as `contentType`. */
function send(
  protocol: WireProtocol,
  method: string,
  body: Uint8Array,
  contentType = CONTENT_TYPES[protocol],
): Promise<RawResponse> {
  const request = {
    path: `/${method}`,
    headers: {
      "content-type": contentType,
      ...serviceAuthorization,
      ...(protocol === "grpc" ? { te: "trailers" } : {}),
      ...(protocol.startsWith("connect") ? { "connect-protocol-version": "1" } : {}),
    },
    body,
  };
  return protocol === "connect-json" || protocol === "grpc-web"
    ? http1Request(port, request)
    : http2Request(port, request);
}

/**
 * The gRPC status a gRPC or gRPC-Web response carries, wherever it carries it (headers for a
 * trailers-only answer, HTTP/2 trailers, or gRPC-Web's trailer envelope). Fails when there is none:
 * a gRPC client reads a missing grpc-status as an error of its own, not as success.
 */
function grpcTrailer(protocol: "grpc" | "grpc-web", res: RawResponse): Headers {
  if (res.headers.has("grpc-status")) {
    return res.headers;
  }
  if (res.trailers.has("grpc-status")) {
    return res.trailers;
  }
  if (protocol === "grpc-web" && res.body.length > 0) {
    const trailer = grpcWebTrailer(res.body);
    if (trailer.has("grpc-status")) {
      return trailer;
    }
  }
  return expect.fail(`HTTP ${res.status} over ${protocol} without a grpc-status`);
}

/**
 * The answer is the service's own: no 5xx, no INTERNAL or UNKNOWN; every refusal, on every
 * protocol, carries SPEC's shape (a code and an ErrorInfo in domain auth.v1 with a reason).
 */
function expectServiceAnswer(
  sent: WireProtocol,
  res: RawResponse,
  contentType = CONTENT_TYPES[sent],
) {
  expect(res.status).toBeLessThan(500);
  // The content type decides the protocol the service answers in, whatever the client meant.
  const protocol = contentType.startsWith("application/grpc-web")
    ? "grpc-web"
    : contentType.startsWith("application/grpc")
      ? "grpc"
      : "connect";
  let error: ConnectError | undefined;
  if (protocol === "grpc" || protocol === "grpc-web") {
    expect(res.status, "gRPC answers are HTTP 200 with a grpc-status").toBe(200);
    error = findTrailerError(grpcTrailer(protocol, res));
  } else if (res.status !== 200) {
    expect(res.headers.get("content-type")).toBe("application/json");
    error = errorFromConnectResponse(res.status, res.body, res.headers);
  }
  if (error === undefined) {
    return; // a success: some fuzzed bytes are a valid request
  }
  expect([Code.Internal, Code.Unknown]).not.toContain(error.code);
  expect(
    detailsOf(error).errorInfo,
    `${protocol}: ${Code[error.code]} ${error.rawMessage}`,
  ).toEqual(
    expect.objectContaining({ domain: "auth.v1", reason: expect.stringMatching(/^[A-Z_]+$/) }),
  );
}

const method = fc.constantFrom(...Object.keys(METHODS));

/** Each kind of malformed input, as a function running its property. */
const properties: [string, () => Promise<void>][] = [
  [
    "Connect JSON bodies",
    () =>
      fc.assert(
        fc.asyncProperty(method, jsonPayload, async (m, body) => {
          expectServiceAnswer("connect-json", await send("connect-json", m, body));
        }),
        { numRuns: RUNS },
      ),
  ],
  [
    "Connect proto bodies",
    () =>
      fc.assert(
        fc.asyncProperty(
          method.chain((m) => fc.tuple(fc.constant(m), protoPayload(m))),
          async ([m, body]) => {
            expectServiceAnswer("connect-proto", await send("connect-proto", m, body));
          },
        ),
        { numRuns: RUNS },
      ),
  ],
  [
    "gRPC and gRPC-Web frames",
    () =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom("grpc", "grpc-web" as const),
          method.chain((m) => fc.tuple(fc.constant(m), framed(protoPayload(m)))),
          async (protocol, [m, body]) => {
            expectServiceAnswer(protocol, await send(protocol, m, body));
          },
        ),
        { numRuns: RUNS },
      ),
  ],
  [
    "wrong content types",
    () =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...PROTOCOLS),
          method,
          fc.constantFrom(
            "text/plain",
            "application/xml",
            "application/json; charset=latin1",
            "application/grpc+json",
            "application/grpc-web-text",
            "application/proto",
            "application/json",
            "",
          ),
          fc.oneof(fc.uint8Array({ maxLength: 100 }), jsonPayload),
          async (protocol, m, contentType, body) => {
            expectServiceAnswer(protocol, await send(protocol, m, body, contentType), contentType);
          },
        ),
        { numRuns: RUNS },
      ),
  ],
];

/** The service's resident set size, in bytes, from /proc. */
function rss(): number {
  const status = readFileSync(`/proc/${service.child.pid}/status`, "utf8");
  return Number(status.match(/^VmRSS:\s+(\d+) kB$/m)?.[1]) * 1024;
}

async function normalCallsSucceed() {
  for (const protocol of ["connect-json-h1", "connect-proto-h2", "grpc", "grpc-web"] as const) {
    const client = createAuthClient(protocol, `http://127.0.0.1:${port}`);
    expect((await client.getStatus({ email: "ada@example.com" }, asService)).authenticated).toBe(
      false,
    );
  }
}

describe("malformed wire input, fuzzed against a running service", () => {
  for (const [name, property] of properties) {
    it(`${name} never meet a server fault, and the service keeps answering`, async () => {
      await property();
      await normalCallsSucceed();
    });
  }

  it("the service's memory stays flat across rounds of malformed input", async () => {
    // One round warms up (JIT, pools, buffers); the next must not leave the process larger.
    const round = async () => {
      for (const [, property] of properties) {
        await property();
      }
    };
    await round();
    const before = rss();
    await round();
    await round();
    const growth = rss() - before;
    // Generous: garbage not yet collected is allowed, a leak of every request is not.
    expect(growth).toBeLessThan(48 * 1024 * 1024);
    await normalCallsSucceed();
  });
});
