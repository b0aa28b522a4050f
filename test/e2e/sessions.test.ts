import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  ListSessionsRequestSchema,
  type ListSessionsResponse,
  SignOutRequestSchema,
} from "../../gen/auth/v1/auth_pb.js";
import {
  createAuthClient,
  createGrpcJsClient,
  detailsOf,
  type Protocol,
  protocols,
  rejection,
} from "../support/clients.js";
import { callGrpcJs } from "../support/raw-requests.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// ListSessions and SignOut of another device (SPEC "Session lifecycle") on a real server, over
// every door: Connect, gRPC and gRPC-Web on the main port, grpc-js's own server on GRPC_PORT,
// and REST. The server's clock is fake, so the idle limit and last_seen_at move when told.

const EMAIL = "ada@example.com";
const MINUTE = 60_000;

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    await server.close();
  }
});

async function serve(env: Record<string, string> = {}) {
  // The proxy at 127.0.0.1 is trusted, so X-Forwarded-For names the client as the limits see it.
  const server = await startTestServer({
    OTP_IP_REQUEST_LIMIT: "off",
    // Many sign-ins of one person; OTP_MAILBOX_LIMIT is the abuse issue's (#23) cap per mailbox.
    OTP_REQUEST_LIMIT: "100/1h",
    OTP_MAILBOX_LIMIT: "100/1h",
    TRUST_PROXY: "127.0.0.1",
    ...env,
  });
  servers.push(server);
  return server;
}

/** Signs `email` in over Connect JSON from `from` (X-Forwarded-For) with User-Agent `agent`. */
async function signIn(server: TestServer, agent: string, from: string, email = EMAIL) {
  const client = createAuthClient("connect-json-h1", server.baseUrl);
  const headers = { "user-agent": agent, "x-forwarded-for": from };
  await client.requestOtp({ email }, { headers });
  const code = server.sender.sent.at(-1)?.code as string;
  return client.verifyOtp({ email, otp: code }, { headers });
}

/** ListSessions over the REST route, as plain fetch sends it; the answer as JSON. */
async function listOverRest(server: TestServer, body: unknown) {
  const res = await fetch(`${server.baseUrl}/auth/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("ListSessions", () => {
  it("lists the user's live sessions, newest first, with their device and masked network, over every door", async () => {
    const server = await serve();
    const phone = await signIn(server, "Phone/1.0", "203.0.113.77");
    server.clock.advance(MINUTE);
    // Header values are Latin-1 on the wire: the cut in code points is the domain test's.
    const laptop = await signIn(server, `Laptop/${"x".repeat(300)}`, "2001:db8:1:2::5");
    server.clock.advance(MINUTE);
    const tablet = await signIn(server, "", "::ffff:198.51.100.9");
    await signIn(server, "Other/1.0", "192.0.2.1", "bob@example.com");

    const expected = [
      {
        sessionId: tablet.sessionId,
        clientAddress: "198.51.100.0/24",
        current: false,
      },
      {
        sessionId: laptop.sessionId,
        clientAddress: "2001:db8:1::/48",
        userAgent: `Laptop/${"x".repeat(256 - 7)}`,
        current: false,
      },
      {
        sessionId: phone.sessionId,
        clientAddress: "203.0.113.0/24",
        userAgent: "Phone/1.0",
        purpose: "login",
        current: true,
      },
    ];
    const check = (answer: ListSessionsResponse) => {
      expect(answer.sessions).toMatchObject(expected);
      const [newest] = answer.sessions;
      // No User-Agent sent: connect-node sends its own unless told otherwise, so only the shape.
      expect(typeof newest?.userAgent).toBe("string");
      const [, laptopShown, mine] = answer.sessions;
      // Not used since it was created; the caller's own was marked seen by this very use.
      expect(laptopShown?.createdAt && timestampMs(laptopShown.createdAt)).toBe(
        laptopShown?.lastSeenAt && timestampMs(laptopShown.lastSeenAt),
      );
      expect(mine?.lastSeenAt && timestampMs(mine.lastSeenAt)).toBe(server.clock.now());
      expect(mine?.expiresAt && timestampMs(mine.expiresAt)).toBe(
        phone.sessionExpiresAt && timestampMs(phone.sessionExpiresAt),
      );
    };
    for (const protocol of protocols) {
      const client = createAuthClient(protocol as Protocol, server.baseUrl);
      check(await client.listSessions({ sessionToken: phone.sessionToken }));
    }
    // The grpc-js door (GRPC_PORT), by a grpc-js client.
    const grpcJs = createGrpcJsClient(server.grpcPort as number);
    try {
      check(
        await callGrpcJs(
          grpcJs,
          "ListSessions",
          create(ListSessionsRequestSchema, { sessionToken: phone.sessionToken }),
        ),
      );
    } finally {
      grpcJs.close();
    }
    // REST: POST /auth/sessions, body *; answers in lowerCamel.
    const rest = await listOverRest(server, { session_token: phone.sessionToken });
    expect(rest.status).toBe(200);
    expect(rest.json.sessions).toMatchObject(
      expected.map(({ sessionId, clientAddress, current }) => ({
        sessionId,
        clientAddress,
        current,
      })),
    );
    const userAgents = (rest.json.sessions as { userAgent: string }[]).map((s) => s.userAgent);
    expect(Array.from(userAgents[1] ?? "")).toHaveLength(256);
  });

  it("answers an empty list for an unknown, revoked, expired or idle token; a malformed one names session_token", async () => {
    const server = await serve({ SESSION_IDLE_TTL: "10m", SESSION_TTL: "1h" });
    const client = createAuthClient("grpc", server.baseUrl);
    const unknown = await client.listSessions({ sessionToken: "x".repeat(43) });
    expect(unknown.sessions).toEqual([]);
    expect((await listOverRest(server, { sessionToken: "x".repeat(43) })).json).toEqual({
      sessions: [],
    });

    const ended = await signIn(server, "A/1", "192.0.2.1");
    await client.signOut({ sessionToken: ended.sessionToken });
    expect((await client.listSessions({ sessionToken: ended.sessionToken })).sessions).toEqual([]);

    const idle = await signIn(server, "A/1", "192.0.2.1");
    server.clock.advance(10 * MINUTE);
    expect((await client.listSessions({ sessionToken: idle.sessionToken })).sessions).toEqual([]);

    const expiring = await signIn(server, "A/1", "192.0.2.1");
    for (let i = 0; i < 7; i++) {
      server.clock.advance(9 * MINUTE);
      // Each use keeps it from going idle, but not past SESSION_TTL.
      await client.getStatus({ sessionToken: expiring.sessionToken });
    }
    expect((await client.listSessions({ sessionToken: expiring.sessionToken })).sessions).toEqual(
      [],
    );

    const malformed = await rejection(client.listSessions({ sessionToken: "not a token" }));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(detailsOf(malformed).badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "session_token",
    ]);
    const rest = await listOverRest(server, { sessionToken: "" });
    expect(rest.status).toBe(400);
    // A token in a URL is refused before it is read.
    const inQuery = await fetch(`${server.baseUrl}/auth/sessions?session_token=${"x".repeat(43)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(inQuery.status).toBe(400);
  });

  it("a session in use stays live past SESSION_IDLE_TTL; its last_seen_at moves at most once a quarter of it", async () => {
    const server = await serve({ SESSION_IDLE_TTL: "3s" });
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    const session = await signIn(server, "A/1", "192.0.2.1");
    const lastSeen = async () => {
      const [mine] = (await client.listSessions({ sessionToken: session.sessionToken })).sessions;
      return mine?.lastSeenAt === undefined ? null : timestampMs(mine.lastSeenAt);
    };
    const start = server.clock.now();
    for (let i = 0; i < 10; i++) {
      server.clock.advance(500);
      expect((await client.getStatus({ sessionToken: session.sessionToken })).authenticated).toBe(
        true,
      );
    }
    // Used every 500 ms, marked every 750 ms (3s / 4) at most: at 1000, 2000, 3000, 4000, 5000.
    expect(await lastSeen()).toBe(start + 5_000);
    server.clock.advance(500);
    expect(await lastSeen()).toBe(start + 5_000);
    server.clock.advance(3_000);
    expect((await client.getStatus({ sessionToken: session.sessionToken })).authenticated).toBe(
      false,
    );
    expect(await lastSeen()).toBeNull();
  });
});

describe("SignOut of another device", () => {
  it("ends that session of the same user at once, only it, over every door; another user's is left alone", async () => {
    const server = await serve();
    const bob = await signIn(server, "B/1", "192.0.2.1", "bob@example.com");
    const doors: [string, (sessionToken: string, sessionId: string) => Promise<unknown>][] = [
      ...protocols.map((protocol): [string, (t: string, id: string) => Promise<unknown>] => [
        protocol,
        (sessionToken, sessionId) =>
          createAuthClient(protocol, server.baseUrl).signOut({ sessionToken, sessionId }),
      ]),
      [
        "grpc-js at GRPC_PORT",
        async (sessionToken, sessionId) => {
          const client = createGrpcJsClient(server.grpcPort as number);
          try {
            await callGrpcJs(
              client,
              "SignOut",
              create(SignOutRequestSchema, { sessionToken, sessionId }),
            );
          } finally {
            client.close();
          }
        },
      ],
      [
        "REST",
        async (sessionToken, sessionId) => {
          const res = await fetch(`${server.baseUrl}/auth/sign-out`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ sessionToken, sessionId }),
          });
          expect(res.status).toBe(200);
        },
      ],
    ];
    const status = createAuthClient("grpc", server.baseUrl);
    for (const [door, signOut] of doors) {
      const phone = await signIn(server, "Phone/1", "192.0.2.1");
      const laptop = await signIn(server, "Laptop/1", "192.0.2.1");
      // Another user's session: OK, and nothing ends (not bob's, not the caller's).
      await signOut(phone.sessionToken, bob.sessionId);
      expect((await status.getStatus({ sessionToken: bob.sessionToken })).authenticated, door).toBe(
        true,
      );
      await signOut(phone.sessionToken, laptop.sessionId);
      expect(
        (await status.getStatus({ sessionToken: laptop.sessionToken })).authenticated,
        door,
      ).toBe(false);
      expect(
        (await status.getStatus({ sessionToken: phone.sessionToken })).authenticated,
        door,
      ).toBe(true);
      const listed = await status.listSessions({ sessionToken: phone.sessionToken });
      expect(listed.sessions.map((s) => s.sessionId)).not.toContain(laptop.sessionId);
      await status.signOut({ sessionToken: phone.sessionToken });
    }
  });

  it("a token no longer live ends no other session, and answers OK all the same", async () => {
    const server = await serve({ SESSION_IDLE_TTL: "10m" });
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    const phone = await signIn(server, "Phone/1", "192.0.2.1");
    server.clock.advance(9 * MINUTE);
    const laptop = await signIn(server, "Laptop/1", "192.0.2.1");
    server.clock.advance(2 * MINUTE);
    // The phone is idle now; the laptop is not.
    await client.signOut({ sessionToken: phone.sessionToken, sessionId: laptop.sessionId });
    expect((await client.getStatus({ sessionToken: laptop.sessionToken })).authenticated).toBe(
      true,
    );
  });

  it("a malformed session_id, or one with all_sessions, is INVALID_ARGUMENT naming session_id", async () => {
    const server = await serve();
    const phone = await signIn(server, "Phone/1", "192.0.2.1");
    for (const protocol of protocols) {
      const client = createAuthClient(protocol, server.baseUrl);
      for (const request of [
        { sessionToken: phone.sessionToken, sessionId: "not an id" },
        { sessionToken: phone.sessionToken, sessionId: phone.sessionId, allSessions: true },
      ]) {
        const error = await rejection(client.signOut(request));
        expect(error.code, protocol).toBe(Code.InvalidArgument);
        expect(detailsOf(error).errorInfo?.reason).toBe("INVALID_ARGUMENT");
        expect(detailsOf(error).badRequest?.fieldViolations.map((v) => v.field)).toEqual([
          "session_id",
        ]);
      }
    }
    const rest = await fetch(`${server.baseUrl}/auth/sign-out`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sessionToken: phone.sessionToken, sessionId: "a/b" }),
    });
    expect(rest.status).toBe(400);
    expect(((await rest.json()) as { details: { metadata?: object }[] }).details).toContainEqual(
      expect.objectContaining({ metadata: { field: "session_id" } }),
    );
    // Nothing was ended by the refusals.
    expect(
      (
        await createAuthClient("grpc", server.baseUrl).getStatus({
          sessionToken: phone.sessionToken,
        })
      ).authenticated,
    ).toBe(true);
  });
});
