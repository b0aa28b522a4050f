import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/auth/v1/admin_pb.js";
import {
  createAuthClient,
  createGrpcJsServiceClient,
  createTransport,
  detailsOf,
  protocols,
  rejection,
} from "../support/clients.js";
import { callGrpcJs } from "../support/raw-requests.js";
import { asService, SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// AdminService (SPEC.md "API", "Session lifecycle") over a real server and real clients: every
// connect-node protocol on the main port, and @grpc/grpc-js on GRPC_PORT; `buf curl` as an
// operator would call it.

const EMAIL = "ada@example.com";
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

interface UserAnswer {
  userId: string;
  email: string;
  externalId: string;
  createdAt?: { seconds: bigint; nanos: number } | undefined;
  lastAuthenticatedAt?: { seconds: bigint; nanos: number } | undefined;
  liveSessions: number;
}
type Naming = { email?: string; userId?: string; externalId?: string };
interface EventAnswer {
  eventId: string;
  type: string;
  at?: { seconds: bigint; nanos: number } | undefined;
  userId: string;
  purpose: string;
  sessionId: string;
  clientAddress: string;
  userAgent: string;
  requestId: string;
  reason: string;
}
type AuditRequest = Naming & { pageSize?: number; pageToken?: string };

/** AdminService as one kind of client calls it; `headers` replace the service token. */
interface AdminCaller {
  getUser(req: Naming, headers?: Record<string, string>): Promise<UserAnswer>;
  revokeSessions(req: Naming, headers?: Record<string, string>): Promise<{ revoked: number }>;
  deleteUser(req: Naming, headers?: Record<string, string>): Promise<{ deleted: boolean }>;
  listAuditEvents(
    req: AuditRequest,
    headers?: Record<string, string>,
  ): Promise<{ events: EventAnswer[]; nextPageToken: string }>;
  close(): void;
}

function connectCaller(protocol: (typeof protocols)[number], server: TestServer): AdminCaller {
  const client = createClient(AdminService, createTransport(protocol, server.baseUrl));
  return {
    getUser: (req, headers = serviceAuthorization) => client.getUser(req, { headers }),
    revokeSessions: (req, headers = serviceAuthorization) =>
      client.revokeSessions(req, { headers }),
    deleteUser: (req, headers = serviceAuthorization) => client.deleteUser(req, { headers }),
    listAuditEvents: (req, headers = serviceAuthorization) =>
      client.listAuditEvents(req, { headers }),
    close() {},
  };
}

function grpcJsCaller(server: TestServer): AdminCaller {
  const client = createGrpcJsServiceClient(server.grpcPort as number, AdminService);
  const call =
    <T>(method: string) =>
    (req: AuditRequest, headers: Record<string, string> = serviceAuthorization) =>
      callGrpcJs<T>(client, method, req, { metadata: headers });
  return {
    getUser: call("GetUser"),
    revokeSessions: call("RevokeSessions"),
    deleteUser: call("DeleteUser"),
    listAuditEvents: call("ListAuditEvents"),
    close: () => client.close(),
  };
}

const callers: [string, (server: TestServer) => AdminCaller][] = [
  ...protocols.map(
    (protocol) =>
      [`${protocol} on the main port`, (s: TestServer) => connectCaller(protocol, s)] as [
        string,
        (server: TestServer) => AdminCaller,
      ],
  ),
  ["@grpc/grpc-js on GRPC_PORT", grpcJsCaller],
];

let server: TestServer | undefined;
let admin: AdminCaller | undefined;
afterEach(async () => {
  admin?.close();
  admin = undefined;
  await server?.close();
  server = undefined;
});

/** A server with SERVICE_TOKENS (and `env`), and Ada signed in on it; her session and user id. */
async function adaSignedIn(env: Record<string, string> = {}) {
  server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN, ...env });
  const auth = createAuthClient("connect-json-h1", server.baseUrl);
  await auth.requestOtp({ email: EMAIL });
  const signedIn = await auth.verifyOtp({ email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) });
  return { server, auth, signedIn };
}

const reasonOf = (error: Awaited<ReturnType<typeof rejection>>) =>
  detailsOf(error).errorInfo?.reason;

describe.each(callers)("AdminService over %s", (_, makeCaller) => {
  it("GetUser answers ids, creation, latest authentication and live sessions, by any name", async () => {
    const { server, auth, signedIn } = await adaSignedIn();
    server.clock.advance(60_000);
    await auth.requestOtp({ email: EMAIL });
    const second = await auth.verifyOtp({ email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) });
    admin = makeCaller(server);
    for (const naming of [{ email: " ADA@example.com " }, { userId: signedIn.userId }]) {
      const user = await admin.getUser(naming);
      expect(user).toMatchObject({
        userId: signedIn.userId,
        email: EMAIL,
        externalId: "",
        liveSessions: 2,
      });
      expect(timestampDate(user.createdAt as never).getTime()).toBe(
        timestampDate(signedIn.authenticatedAt as never).getTime(),
      );
      expect(timestampDate(user.lastAuthenticatedAt as never).getTime()).toBe(
        timestampDate(second.authenticatedAt as never).getTime(),
      );
    }
  });

  it("GetUser of an account named by external id; no last authentication before a login", async () => {
    server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
    await createAuthClient("grpc", server.baseUrl).requestOtp({ externalId: "Ext-42" });
    admin = makeCaller(server);
    const user = await admin.getUser({ externalId: "Ext-42" });
    expect(user).toMatchObject({ email: "", externalId: "Ext-42", liveSessions: 0 });
    expect(user.lastAuthenticatedAt).toBeUndefined();
    // The same text as an email names another account, which does not exist.
    expect(reasonOf(await rejection(admin.getUser({ email: "ext-42@example.com" })))).toBe(
      "USER_NOT_FOUND",
    );
  });

  it("an unknown user: GetUser NOT_FOUND (USER_NOT_FOUND), RevokeSessions 0, DeleteUser false", async () => {
    server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
    admin = makeCaller(server);
    const error = await rejection(admin.getUser({ email: EMAIL }));
    expect(error.code).toBe(Code.NotFound);
    expect(detailsOf(error).errorInfo).toMatchObject({
      reason: "USER_NOT_FOUND",
      domain: "auth.v1",
    });
    expect(await admin.revokeSessions({ userId: "AAAAAAAAAAAAAAAAAAAAAA" })).toMatchObject({
      revoked: 0,
    });
    expect(await admin.deleteUser({ externalId: "nobody" })).toMatchObject({ deleted: false });
  });

  it("RevokeSessions ends every live session at once: no lookup or introspection sees them", async () => {
    const { server, auth, signedIn } = await adaSignedIn();
    await auth.requestOtp({ email: EMAIL });
    const other = await auth.verifyOtp({ email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) });
    admin = makeCaller(server);
    expect(await admin.revokeSessions({ email: EMAIL })).toMatchObject({ revoked: 2 });
    for (const session of [signedIn, other]) {
      expect((await auth.getStatus({ sessionToken: session.sessionToken })).authenticated).toBe(
        false,
      );
      for (const token of [session.sessionToken, session.accessToken]) {
        expect((await auth.introspectToken({ token }, asService)).active).toBe(false);
      }
    }
    expect((await auth.getStatus({ email: EMAIL }, asService)).authenticated).toBe(false);
    expect(await admin.getUser({ email: EMAIL })).toMatchObject({ liveSessions: 0 });
    expect(await admin.revokeSessions({ userId: signedIn.userId })).toMatchObject({ revoked: 0 });
  });

  it("DeleteUser erases the user: sessions dead everywhere, unknown after, a new user next time", async () => {
    const { server, auth, signedIn } = await adaSignedIn({ OTP_REQUEST_LIMIT: "2/1h" });
    await auth.requestOtp({ email: EMAIL }, { headers: { "idempotency-key": "k-1" } });
    admin = makeCaller(server);
    expect(await admin.deleteUser({ userId: signedIn.userId })).toMatchObject({ deleted: true });

    expect((await auth.getStatus({ sessionToken: signedIn.sessionToken })).authenticated).toBe(
      false,
    );
    expect((await auth.introspectToken({ token: signedIn.sessionToken }, asService)).active).toBe(
      false,
    );
    expect((await auth.introspectToken({ token: signedIn.accessToken }, asService)).active).toBe(
      false,
    );
    expect(reasonOf(await rejection(admin.getUser({ email: EMAIL })))).toBe("USER_NOT_FOUND");
    expect(await admin.deleteUser({ email: EMAIL })).toMatchObject({ deleted: false });
    // The limit window and the idempotency key went with the user: the key issues a new code.
    const again = await auth.requestOtp(
      { email: EMAIL },
      { headers: { "idempotency-key": "k-1" } },
    );
    expect(again.remainingRequests).toBe(1);
    const fresh = await auth.verifyOtp({ email: EMAIL, otp: server.sender.lastCodeFor(EMAIL) });
    expect(fresh.userId).not.toBe(signedIn.userId);
  });

  it("ListAuditEvents answers the trail oldest first, a page at a time, and keeps it past DeleteUser", async () => {
    server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN, TRUST_PROXY: "127.0.0.1" });
    const auth = createAuthClient("connect-json-h1", server.baseUrl);
    const from = { "x-forwarded-for": "198.51.100.23", "user-agent": "Audit-Test/2.0" };
    await auth.requestOtp({ email: EMAIL }, { headers: { ...from, "x-request-id": "req-ask" } });
    const code = server.sender.lastCodeFor(EMAIL);
    await rejection(
      auth.verifyOtp(
        { email: EMAIL, otp: code === "000000" ? "111111" : "000000" },
        { headers: from },
      ),
    );
    const signedIn = await auth.verifyOtp(
      { email: EMAIL, otp: code },
      { headers: { ...from, "x-request-id": "req-in" } },
    );
    await auth.signOut({ sessionToken: signedIn.sessionToken }, { headers: from });
    admin = makeCaller(server);

    const { events, nextPageToken } = await admin.listAuditEvents({ email: EMAIL });
    expect(nextPageToken).toBe("");
    expect(events.map((e) => [e.type, e.reason])).toEqual([
      ["otp.requested", ""],
      ["otp.verify_failed", "mismatch"],
      ["session.created", ""],
      ["session.revoked", "sign_out"],
    ]);
    for (const event of events) {
      expect(event).toMatchObject({
        userId: signedIn.userId,
        purpose: "login",
        clientAddress: "198.51.100.0/24",
        userAgent: "Audit-Test/2.0",
      });
    }
    expect(events[0]?.requestId).toBe("req-ask");
    expect(events[2]).toMatchObject({ requestId: "req-in", sessionId: signedIn.sessionId });
    // Never a code or a token.
    const text = JSON.stringify(events, (_, v) => (typeof v === "bigint" ? String(v) : v));
    for (const secret of [code, signedIn.sessionToken, signedIn.accessToken]) {
      expect(text).not.toContain(secret);
    }

    const first = await admin.listAuditEvents({ userId: signedIn.userId, pageSize: 3 });
    expect(first.events.map((e) => e.eventId)).toEqual(events.slice(0, 3).map((e) => e.eventId));
    const rest = await admin.listAuditEvents({
      userId: signedIn.userId,
      pageSize: 3,
      pageToken: first.nextPageToken,
    });
    expect(rest).toMatchObject({ events: [{ type: "session.revoked" }], nextPageToken: "" });

    const bad = await rejection(admin.listAuditEvents({ email: EMAIL, pageToken: "not-a-token" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(detailsOf(bad).badRequest?.fieldViolations.map((v) => v.field)).toEqual(["page_token"]);
    expect(await admin.listAuditEvents({ email: "nobody@example.com" })).toMatchObject({
      events: [],
      nextPageToken: "",
    });

    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    for (const type of ["otp.requested", "otp.verify_failed", "session.created"]) {
      expect(metrics).toContain(`otp_auth_audit_events_total{type="${type}"} 1`);
    }

    expect(await admin.deleteUser({ email: EMAIL })).toMatchObject({ deleted: true });
    expect((await admin.listAuditEvents({ email: EMAIL })).events).toEqual([]);
    const kept = (await admin.listAuditEvents({ userId: signedIn.userId })).events;
    expect(kept.map((e) => e.type)).toEqual([...events.map((e) => e.type), "user.deleted"]);
    for (const event of kept) {
      expect(event).toMatchObject({ clientAddress: "", userAgent: "" });
    }
  });

  it("needs a service token: none, a wrong one, another scheme are CALLER_UNAUTHENTICATED", async () => {
    server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
    admin = makeCaller(server);
    const refused: Record<string, string>[] = [
      {},
      { authorization: "Bearer not-the-token-0123456789-abcdefghijklmnop" },
      { authorization: `Basic ${SERVICE_TOKEN}` },
    ];
    for (const headers of refused) {
      for (const call of [
        admin.getUser({ email: EMAIL }, headers),
        admin.revokeSessions({ email: EMAIL }, headers),
        admin.deleteUser({ email: EMAIL }, headers),
        admin.listAuditEvents({ email: EMAIL }, headers),
      ]) {
        const error = await rejection(call);
        expect(error.code).toBe(Code.Unauthenticated);
        expect(reasonOf(error)).toBe("CALLER_UNAUTHENTICATED");
      }
    }
  });

  it("names one user: none or two fields, or a malformed one, are INVALID_ARGUMENT naming them", async () => {
    server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
    admin = makeCaller(server);
    const cases: [Naming, string[]][] = [
      [{}, ["email", "user_id", "external_id"]],
      [{ email: EMAIL, userId: "AAAAAAAAAAAAAAAAAAAAAA" }, ["email", "user_id"]],
      [{ userId: "AAAAAAAAAAAAAAAAAAAAAA", externalId: "x" }, ["user_id", "external_id"]],
      [{ email: "not-an-address" }, ["email"]],
      [{ userId: "has spaces in it" }, ["user_id"]],
      [{ userId: "x".repeat(65) }, ["user_id"]],
      [{ externalId: "with space" }, ["external_id"]],
    ];
    for (const [naming, fields] of cases) {
      for (const call of [
        admin.getUser(naming),
        admin.revokeSessions(naming),
        admin.deleteUser(naming),
        admin.listAuditEvents(naming),
      ]) {
        const error = await rejection(call);
        expect({ naming, code: error.code }).toEqual({ naming, code: Code.InvalidArgument });
        const violations = detailsOf(error).badRequest?.fieldViolations.map((v) => v.field);
        expect({ naming, violations }).toEqual({ naming, violations: fields });
      }
    }
  });
});

describe("AdminService without SERVICE_TOKENS", () => {
  it.each([
    ["unset", {}],
    ["unset, even with STATUS_BY_EMAIL=open", { STATUS_BY_EMAIL: "open" }],
  ])("SERVICE_TOKENS %s: every call is CALLER_UNAUTHENTICATED", async (_, env) => {
    server = await startTestServer(env);
    for (const caller of [connectCaller("grpc", server), grpcJsCaller(server)]) {
      admin = caller;
      for (const call of [
        caller.getUser({ email: EMAIL }, {}),
        caller.revokeSessions({ email: EMAIL }, serviceAuthorization),
        caller.deleteUser({ email: EMAIL }, serviceAuthorization),
        caller.listAuditEvents({ email: EMAIL }, serviceAuthorization),
      ]) {
        const error = await rejection(call);
        expect(error.code).toBe(Code.Unauthenticated);
        expect(reasonOf(error)).toBe("CALLER_UNAUTHENTICATED");
      }
      caller.close();
    }
  });
});

describe("AdminService calls are logged and counted like any other, never with the token", () => {
  it("one log line per call, with its method and outcome", async () => {
    const { server } = await adaSignedIn();
    admin = connectCaller("grpc", server);
    await admin.getUser({ email: EMAIL });
    await rejection(admin.deleteUser({ email: EMAIL }, {}));
    const lines = server.logs.filter((entry) =>
      String(entry.method ?? "").startsWith("auth.v1.AdminService/"),
    );
    expect(lines.map((line) => line.method)).toEqual([
      "auth.v1.AdminService/GetUser",
      "auth.v1.AdminService/DeleteUser",
    ]);
    expect(JSON.stringify(server.logs)).not.toContain(SERVICE_TOKEN);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(metrics).toContain('method="auth.v1.AdminService/GetUser"');
    expect(metrics).not.toContain(SERVICE_TOKEN);
  });
});

describe("buf curl, as an operator", () => {
  it("GetUser with a service token over gRPC and Connect, learning the schema by reflection", async () => {
    const { server, signedIn } = await adaSignedIn();
    for (const protocol of ["grpc", "connect"]) {
      const { stdout } = await promisify(execFile)(
        buf,
        [
          "curl",
          "--protocol",
          protocol,
          ...(protocol === "grpc" ? ["--http2-prior-knowledge"] : []),
          "-H",
          `authorization: Bearer ${SERVICE_TOKEN}`,
          "-d",
          JSON.stringify({ email: EMAIL }),
          `${server.baseUrl}/auth.v1.AdminService/GetUser`,
        ],
        { cwd: repoRoot, timeout: 15_000 },
      );
      expect(JSON.parse(stdout)).toMatchObject({
        userId: signedIn.userId,
        email: EMAIL,
        liveSessions: 1,
      });
    }
  });
});
