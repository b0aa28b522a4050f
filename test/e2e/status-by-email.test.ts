import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetStatusRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import {
  createAuthClient,
  createGrpcJsClient,
  detailsOf,
  protocols,
  rejection,
} from "../support/clients.js";
import { callGrpcJs } from "../support/raw-requests.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// GetStatus by email is closed by default (SPEC.md "Sessions", "Abuse"): with SERVICE_TOKENS
// unset, nobody may ask whether an email has a live session unless STATUS_BY_EMAIL=open, which
// the service warns about at start-up. Over a real server and real clients, on every door.

const EMAIL = "ada@example.com";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Starts a server with `env` and logs `EMAIL` in; answers the server and the session token. */
async function signedIn(env: Record<string, string>) {
  server = await startTestServer(env);
  const client = createAuthClient("connect-json-h1", server.baseUrl);
  await client.requestOtp({ email: EMAIL });
  const { sessionToken } = await client.verifyOtp({
    email: EMAIL,
    otp: server.sender.lastCodeFor(EMAIL),
  });
  return { server, sessionToken };
}

const restStatus = async (baseUrl: string, query: string) => {
  const res = await fetch(`${baseUrl}/auth/status?${query}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const openWarning = (logs: Record<string, unknown>[]) =>
  logs.filter((entry) => entry.msg === "status by email is open");

describe("with SERVICE_TOKENS unset and STATUS_BY_EMAIL unset (closed, the default)", () => {
  it.each(protocols)(
    "over %s an email lookup is UNAUTHENTICATED CALLER_UNAUTHENTICATED",
    async (protocol) => {
      const { server } = await signedIn({});
      const client = createAuthClient(protocol, server.baseUrl);
      for (const headers of [{}, { authorization: "Bearer anything-at-all-0123456789abcdef" }]) {
        const error = await rejection(client.getStatus({ email: EMAIL }, { headers }));
        expect(error.code).toBe(Code.Unauthenticated);
        expect(detailsOf(error).errorInfo).toMatchObject({
          reason: "CALLER_UNAUTHENTICATED",
          domain: "auth.v1",
        });
      }
    },
  );

  it("at GRPC_PORT (the grpc-js door) the same", async () => {
    const { server } = await signedIn({});
    const client = createGrpcJsClient(server.grpcPort as number);
    try {
      const error = await rejection(
        callGrpcJs(client, "GetStatus", create(GetStatusRequestSchema, { email: EMAIL })),
      );
      expect(error.code).toBe(Code.Unauthenticated);
      expect(detailsOf(error).errorInfo?.reason).toBe("CALLER_UNAUTHENTICATED");
    } finally {
      client.close();
    }
  });

  it("over REST, GET /auth/status?email= is 401 CALLER_UNAUTHENTICATED, saying nothing of the email", async () => {
    const { server } = await signedIn({});
    const known = await restStatus(server.baseUrl, `email=${EMAIL}`);
    const unknown = await restStatus(server.baseUrl, "email=nobody@example.com");
    expect(known.status).toBe(401);
    expect(known.body).toMatchObject({
      code: Code.Unauthenticated,
      details: [{ reason: "CALLER_UNAUTHENTICATED", domain: "auth.v1" }],
    });
    expect(unknown).toEqual(known);
  });

  it("a session lookup still answers, and nothing is warned about", async () => {
    const { server, sessionToken } = await signedIn({});
    const client = createAuthClient("grpc", server.baseUrl);
    expect((await client.getStatus({ sessionToken })).authenticated).toBe(true);
    expect(openWarning(server.logs)).toEqual([]);
  });
});

describe("with STATUS_BY_EMAIL=open (development, or seed A's unauthenticated lookups)", () => {
  it("anyone may look an email up over Connect, gRPC and REST", async () => {
    const { server } = await signedIn({ STATUS_BY_EMAIL: "open" });
    for (const protocol of protocols) {
      const status = await createAuthClient(protocol, server.baseUrl).getStatus({ email: EMAIL });
      expect(status.authenticated, protocol).toBe(true);
    }
    const client = createGrpcJsClient(server.grpcPort as number);
    try {
      const status = await callGrpcJs<{ authenticated: boolean }>(
        client,
        "GetStatus",
        create(GetStatusRequestSchema, { email: EMAIL }),
      );
      expect(status.authenticated).toBe(true);
    } finally {
      client.close();
    }
    expect(await restStatus(server.baseUrl, `email=${EMAIL}`)).toMatchObject({
      status: 200,
      body: { authenticated: true },
    });
  });

  it("warns at start-up, once, at warn level", async () => {
    const { server } = await signedIn({ STATUS_BY_EMAIL: "open" });
    expect(openWarning(server.logs)).toEqual([
      expect.objectContaining({
        level: "warn",
        detail: expect.stringContaining("STATUS_BY_EMAIL=open"),
      }),
    ]);
  });
});
