import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createAuthClient, type Protocol, rejection } from "../support/clients.js";
import { scrape } from "../support/prometheus-text.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// RFC 7662 introspection (SPEC.md "Tokens other software can consume") over a real server on a
// real socket, as a gateway asks it: a form POST to /oauth/introspect with a service token.

const EMAIL = "ann@example.com";
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const KEYS = writeKeySetFile(["ES256", "EdDSA"]);

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(env: Record<string, string> = {}) {
  server = await startTestServer(
    { SERVICE_TOKENS: SERVICE_TOKEN, ACCESS_TOKEN_KEYS: KEYS, ...env },
    { codes: ["123456", "234567"] },
  );
  return server;
}

/** Logs in (email or external id) over Connect; the verification's answer. */
async function logIn(account: { email: string } | { externalId: string } = { email: EMAIL }) {
  const client = createAuthClient("connect-json-h1", server?.baseUrl ?? "");
  await client.requestOtp(account);
  const sender = server?.sender;
  const code =
    "email" in account
      ? sender?.lastCodeFor(account.email)
      : sender?.lastCodeForExternalId(account.externalId);
  return client.verifyOtp({ ...account, otp: code ?? "" });
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** POSTs a form to /oauth/introspect, as a gateway's introspection client does. */
async function introspect(
  form: Record<string, string> | string,
  headers: Record<string, string> = { authorization: `Bearer ${SERVICE_TOKEN}` },
  init: RequestInit = {},
): Promise<Answer> {
  const res = await fetch(`${server?.baseUrl}/oauth/introspect`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: typeof form === "string" ? form : new URLSearchParams(form).toString(),
    ...init,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === "" ? undefined : JSON.parse(text),
  };
}

const seconds = (ms: number) => Math.floor(ms / 1000);
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as { iat: number };

describe("POST /oauth/introspect", () => {
  it("a live session token is active, with the session's creation and end, never cached", async () => {
    const { clock } = await serve();
    const verified = await logIn();
    clock.advance(MINUTE);
    const answer = await introspect({
      token: verified.sessionToken,
      token_type_hint: "refresh_token",
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.body).toEqual({
      active: true,
      sub: verified.userId,
      sid: verified.sessionId,
      exp: seconds(timestampMs(verified.sessionExpiresAt as never)),
      iat: seconds(timestampMs(verified.authenticatedAt as never)),
      iss: "otp-auth",
      aud: "otp-auth",
      client_id: "otp-auth",
      token_type: "Bearer",
      email: EMAIL,
    });
  });

  it("a valid access token is active with its own iat and exp; the hint changes nothing", async () => {
    await serve({ ACCESS_TOKEN_ISSUER: "https://auth.example.com", ACCESS_TOKEN_AUDIENCE: "api" });
    const verified = await logIn();
    const hints: Record<string, string>[] = [
      {},
      { token_type_hint: "access_token" },
      { token_type_hint: "refresh_token" },
    ];
    for (const hint of hints) {
      const answer = await introspect({ token: verified.accessToken, ...hint });
      expect(answer.body).toEqual({
        active: true,
        sub: verified.userId,
        sid: verified.sessionId,
        exp: seconds(timestampMs(verified.accessTokenExpiresAt as never)),
        iat: claimsOf(verified.accessToken).iat,
        iss: "https://auth.example.com",
        aud: "api",
        client_id: "otp-auth",
        token_type: "Bearer",
        email: EMAIL,
      });
    }
  });

  it("an account named by external id is answered with ext, and no email", async () => {
    await serve();
    const verified = await logIn({ externalId: "user-42" });
    for (const token of [verified.sessionToken, verified.accessToken]) {
      const { body } = await introspect({ token });
      expect(body).toMatchObject({ active: true, ext: "user-42", sub: verified.userId });
      expect(body).not.toHaveProperty("email");
    }
  });

  it("after SignOut the session token and its unexpired access token are only inactive", async () => {
    await serve();
    const verified = await logIn();
    const client = createAuthClient("connect-json-h1", server?.baseUrl ?? "");
    await client.signOut({ sessionToken: verified.sessionToken });
    for (const token of [verified.sessionToken, verified.accessToken]) {
      const answer = await introspect({ token });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("cache-control")).toBe("no-store");
      expect(answer.body).toEqual({ active: false });
    }
  });

  it("an access token is inactive once expired, its session token once the session ends", async () => {
    const { clock } = await serve();
    const verified = await logIn();
    clock.advance(15 * MINUTE);
    expect((await introspect({ token: verified.accessToken })).body).toEqual({ active: false });
    expect((await introspect({ token: verified.sessionToken })).body).toMatchObject({
      active: true,
    });
    clock.advance(DAY);
    expect((await introspect({ token: verified.sessionToken })).body).toEqual({ active: false });
  });

  it("garbage, unknown tokens and a JWT signed by another key under a published kid: inactive", async () => {
    const { clock } = await serve();
    const verified = await logIn();
    const { privateKey } = await generateKeyPair("ES256");
    const claims = JSON.parse(
      Buffer.from(verified.accessToken.split(".")[1] ?? "", "base64url").toString(),
    );
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "key-1", typ: "at+jwt" })
      .setIssuedAt(seconds(clock.now()))
      .sign(privateKey);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", kid: "key-1", typ: "at+jwt" })).toString("base64url")}.${verified.accessToken.split(".")[1]}.`;
    for (const token of [
      "garbage",
      "a.b.c",
      "x".repeat(43),
      `${verified.sessionToken}x`,
      forged,
      unsigned,
      `${verified.accessToken.slice(0, -4)}AAAA`,
    ]) {
      const answer = await introspect({ token });
      expect(answer.status, token).toBe(200);
      expect(answer.body, token).toEqual({ active: false });
    }
  });

  it("refuses a caller without a valid service token: 401 with WWW-Authenticate, logged and counted", async () => {
    await serve();
    const verified = await logIn();
    const none = await introspect({ token: verified.sessionToken }, {});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe("Bearer");
    expect(none.body).toMatchObject({ error: "invalid_token" });
    const wrong = await introspect(
      { token: verified.sessionToken },
      { authorization: `Bearer ${SERVICE_TOKEN}x` },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(wrong.body).toMatchObject({ error: "invalid_token" });
    expect(wrong.body).not.toHaveProperty("active");
    const lines = server?.logs.filter((entry) => entry.protocol === "oauth") ?? [];
    expect(lines).toEqual([
      expect.objectContaining({
        method: "auth.v1.AuthService/IntrospectToken",
        code: "UNAUTHENTICATED",
        reason: "CALLER_UNAUTHENTICATED",
        level: "info",
      }),
      expect.objectContaining({ code: "UNAUTHENTICATED", reason: "CALLER_UNAUTHENTICATED" }),
    ]);
    const metrics = await scrape(server?.baseUrl ?? "");
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/IntrospectToken",
        code: "UNAUTHENTICATED",
        reason: "CALLER_UNAUTHENTICATED",
        protocol: "oauth",
      }),
    ).toBe(2);
  });

  it("with SERVICE_TOKENS unset every introspection is 401, even with STATUS_BY_EMAIL=open", async () => {
    server = await startTestServer({ STATUS_BY_EMAIL: "open" }, { codes: ["123456"] });
    const verified = await logIn();
    const callers: Record<string, string>[] = [{}, { authorization: `Bearer ${SERVICE_TOKEN}` }];
    for (const headers of callers) {
      const answer = await introspect({ token: verified.sessionToken }, headers);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: "invalid_token" });
    }
  });

  it("answers are logged and counted as protocol oauth, and no token reaches the logs", async () => {
    await serve();
    const verified = await logIn();
    await introspect({ token: verified.sessionToken });
    await introspect({ token: verified.accessToken });
    await introspect({ token: "garbage" });
    const lines = server?.logs.filter((entry) => entry.protocol === "oauth") ?? [];
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toMatchObject({ method: "auth.v1.AuthService/IntrospectToken", code: "OK" });
    }
    const logged = JSON.stringify(server?.logs);
    expect(logged).not.toContain(verified.sessionToken);
    expect(logged).not.toContain(verified.accessToken.split(".")[2]);
    const metrics = await scrape(server?.baseUrl ?? "");
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/IntrospectToken",
        code: "OK",
        listener: "main",
        protocol: "oauth",
      }),
    ).toBe(3);
  });

  it("refuses what is no introspection request, in OAuth's error shape", async () => {
    await serve();
    const missing = await introspect({ token_type_hint: "access_token" });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: "invalid_request" });
    const twice = await introspect("token=a&token=b");
    expect(twice.status).toBe(400);
    expect(twice.body).toMatchObject({ error: "invalid_request" });
    const json = await introspect(JSON.stringify({ token: "x" }), {
      authorization: `Bearer ${SERVICE_TOKEN}`,
      "content-type": "application/json",
    });
    expect(json.status).toBe(415);
    expect(json.body).toMatchObject({ error: "invalid_request" });
    const get = await introspect("", {}, { method: "GET", body: null });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const huge = await introspect({ token: "x".repeat(65 * 1024) });
    expect(huge.status).toBe(413);
    const codes = (server?.logs ?? [])
      .filter((entry) => entry.protocol === "oauth")
      .map((entry) => entry.code);
    expect(codes).toEqual([
      "INVALID_ARGUMENT",
      "INVALID_ARGUMENT",
      "INVALID_ARGUMENT",
      "UNIMPLEMENTED",
      "RESOURCE_EXHAUSTED",
    ]);
  });
});

describe("IntrospectToken as an RPC", () => {
  it.each<[string, Protocol, (s: TestServer) => number]>([
    ["Connect on the main port", "connect-json-h1", (s) => s.port],
    ["gRPC on the main port", "grpc", (s) => s.port],
    ["gRPC at GRPC_PORT", "grpc", (s) => s.grpcPort as number],
  ])("answers over %s, behind the service token", async (_name, protocol, port) => {
    const s = await serve();
    const verified = await logIn();
    const client = createAuthClient(protocol, `http://127.0.0.1:${port(s)}`);
    const active = await client.introspectToken({ token: verified.accessToken }, asService);
    expect(active).toMatchObject({
      active: true,
      userId: verified.userId,
      sessionId: verified.sessionId,
      issuer: "otp-auth",
      audience: "otp-auth",
      clientId: "otp-auth",
      tokenType: "Bearer",
      email: EMAIL,
      externalId: "",
    });
    expect(await client.introspectToken({ token: "garbage" }, asService)).toMatchObject({
      active: false,
      userId: "",
    });
    const refused = await rejection(client.introspectToken({ token: verified.accessToken }));
    expect(refused.code).toBe(Code.Unauthenticated);
  });
});
