import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ServiceError } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  GetStatusRequestSchema,
  type GetStatusResponse,
  RequestOtpRequestSchema,
  type RequestOtpResponse,
  VerifyOtpRequestSchema,
  type VerifyOtpResponse,
} from "../../gen/auth/v1/auth_pb.js";
import { createAuthClient, createGrpcJsClient, protocols } from "../support/clients.js";
import {
  callGrpcJs,
  type GrpcJsClient,
  http1Request,
  http2Request,
} from "../support/raw-requests.js";
import { asService, SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { grpcDoors, startTestServer, type TestServer } from "../support/test-server.js";

const EMAIL = "ada@example.com";
const FIVE_MINUTES = 5 * 60_000;

let server: TestServer;

beforeEach(async () => {
  // GetStatus by email is a trusted service's question (closed by default): the tests ask as one.
  server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
});

afterEach(async () => {
  await server.close();
});

/** What a first RequestOtp under the default policy (3/1h, 5m, 6 digits) answers. */
function expectFirstIssue(issued: RequestOtpResponse) {
  expect(issued.otpId).not.toBe("");
  expect(issued.otpId).toBe(server.sender.sent.at(-1)?.otpId);
  expect(millis(issued.expiresAt)).toBe(server.clock.now() + FIVE_MINUTES);
  expect(issued.ttl?.seconds).toBe(300n);
  expect(issued.ttl?.nanos).toBe(0);
  expect(issued.remainingRequests).toBe(2);
  expect(issued.codeLength).toBe(6);
}

function expectNotAuthenticated(status: GetStatusResponse) {
  expect(status.authenticated).toBe(false);
  expect(status.authenticatedAt).toBeUndefined();
}

function expectAuthenticatedAt(answer: VerifyOtpResponse | GetStatusResponse, at: number) {
  expect(answer.authenticated).toBe(true);
  expect(millis(answer.authenticatedAt)).toBe(at);
}

function millis(timestamp: Timestamp | undefined): number {
  expect(timestamp).toBeDefined();
  return timestampMs(timestamp as Timestamp);
}

describe.each(protocols)("logging in over connect-node %s", (protocol) => {
  it("a requested code, sent back, authenticates the email", async () => {
    const client = createAuthClient(protocol, server.baseUrl);

    expectFirstIssue(await client.requestOtp({ email: EMAIL }));
    expectNotAuthenticated(await client.getStatus({ email: EMAIL }, asService));

    server.clock.advance(30_000);
    const verified = await client.verifyOtp({
      email: EMAIL,
      otp: server.sender.lastCodeFor(EMAIL),
    });
    expectAuthenticatedAt(verified, server.clock.now());
    expectAuthenticatedAt(await client.getStatus({ email: EMAIL }, asService), server.clock.now());
  });
});

describe("logging in over connect-node gRPC at GRPC_PORT", () => {
  it("a requested code, sent back, authenticates the email", async () => {
    const client = createAuthClient("grpc", `http://127.0.0.1:${server.grpcPort}`);
    expectFirstIssue(await client.requestOtp({ email: EMAIL }));
    expectNotAuthenticated(await client.getStatus({ email: EMAIL }, asService));
    server.clock.advance(30_000);
    const otp = server.sender.lastCodeFor(EMAIL);
    expectAuthenticatedAt(await client.verifyOtp({ email: EMAIL, otp }), server.clock.now());
    expectAuthenticatedAt(await client.getStatus({ email: EMAIL }, asService), server.clock.now());
  });
});

describe.each(Object.entries(grpcDoors))("logging in over @grpc/grpc-js at %s", (_, portOf) => {
  let client: GrpcJsClient;

  beforeEach(() => {
    client = createGrpcJsClient(portOf(server));
  });

  afterEach(() => {
    client.close();
  });

  it("a requested code, sent back, authenticates the email", async () => {
    const getStatus = () =>
      callGrpcJs<GetStatusResponse>(
        client,
        "GetStatus",
        create(GetStatusRequestSchema, { email: EMAIL }),
        { metadata: serviceAuthorization },
      );

    expectFirstIssue(
      await callGrpcJs<RequestOtpResponse>(
        client,
        "RequestOtp",
        create(RequestOtpRequestSchema, { email: EMAIL }),
      ),
    );
    expectNotAuthenticated(await getStatus());

    server.clock.advance(30_000);
    const verified = await callGrpcJs<VerifyOtpResponse>(
      client,
      "VerifyOtp",
      create(VerifyOtpRequestSchema, { email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) }),
    );
    expectAuthenticatedAt(verified, server.clock.now());
    expectAuthenticatedAt(await getStatus(), server.clock.now());
  });

  it("reads error messages as the service wrote them", async () => {
    // grpc-js decodes grpc-message with decodeURI, which leaves %3B, %40 and the like encoded.
    const details = (method: "RequestOtp" | "VerifyOtp", request: object) =>
      new Promise<string>((resolve, reject) => {
        const call = client[method] as (...args: unknown[]) => unknown;
        call.call(client, request, (error: ServiceError | null) => {
          if (error === null) {
            reject(new Error("expected the call to fail"));
          } else {
            resolve(error.details);
          }
        });
      });
    await callGrpcJs(client, "RequestOtp", create(RequestOtpRequestSchema, { email: EMAIL }));
    const wrong = server.sender.lastCodeFor(EMAIL) === "000000" ? "111111" : "000000";
    expect(
      await details("VerifyOtp", create(VerifyOtpRequestSchema, { email: EMAIL, otp: wrong })),
    ).toBe("wrong code; 2 attempts left");
    expect(await details("RequestOtp", create(RequestOtpRequestSchema, { email: "ada @x" }))).toBe(
      "email must be an address like name@example.com",
    );
  });
});

describe("logging in with plain fetch and Connect JSON, as curl or a browser would", () => {
  /** A POST with no Connect-Protocol-Version header, as `curl -d` sends it. */
  async function post(method: string, body: unknown) {
    const res = await fetch(`${server.baseUrl}/auth.v1.AuthService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    return (await res.json()) as Record<string, unknown>;
  }

  /** GetStatus as a Connect GET: the request message travels in the query string. */
  async function getStatus(email: string) {
    const message = encodeURIComponent(JSON.stringify({ email }));
    const res = await fetch(
      `${server.baseUrl}/auth.v1.AuthService/GetStatus?encoding=json&message=${message}`,
      { headers: serviceAuthorization },
    );
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  it("a requested code, sent back, authenticates the email", async () => {
    const issued = await post("RequestOtp", { email: EMAIL });
    expect(issued).toEqual({
      otpId: server.sender.sent.at(-1)?.otpId,
      expiresAt: "2026-01-01T00:05:00Z",
      ttl: "300s",
      remainingRequests: 2,
      codeLength: 6,
    });
    expect(issued.otpId).not.toBe("");
    // Proto3 JSON leaves out `false` and an absent timestamp.
    expect(await getStatus(EMAIL)).toEqual({});

    server.clock.advance(30_000);
    const verified = await post("VerifyOtp", {
      email: EMAIL,
      otp: server.sender.lastCodeFor(EMAIL),
    });
    expect(verified).toEqual({
      authenticated: true,
      authenticatedAt: "2026-01-01T00:00:30Z",
      sessionToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      sessionExpiresAt: "2026-01-02T00:00:30Z",
      accessToken: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/),
      accessTokenExpiresAt: "2026-01-01T00:15:30Z",
      sessionId: expect.any(String),
      userId: expect.any(String),
    });
    expect(await getStatus(EMAIL)).toEqual({
      authenticated: true,
      authenticatedAt: "2026-01-01T00:00:30Z",
    });
  });
});

describe("one port for HTTP/1.1 and HTTP/2", () => {
  const json = { "content-type": "application/json" };

  it("a code requested over HTTP/1.1 verifies over h2c on the same port", async () => {
    const requested = await http1Request(server.port, {
      path: "/auth.v1.AuthService/RequestOtp",
      headers: json,
      body: JSON.stringify({ email: EMAIL }),
    });
    expect(requested.httpVersion).toBe("1.1");
    expect(requested.status).toBe(200);
    expect(JSON.parse(requested.body.toString()).remainingRequests).toBe(2);

    const verified = await http2Request(server.port, {
      path: "/auth.v1.AuthService/VerifyOtp",
      headers: json,
      body: JSON.stringify({ email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) }),
    });
    expect(verified.httpVersion).toBe("2.0");
    expect(verified.status).toBe(200);
    expect(JSON.parse(verified.body.toString())).toMatchObject({
      authenticated: true,
      authenticatedAt: "2026-01-01T00:00:00Z",
    });
  });
});
