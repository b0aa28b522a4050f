import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { AuthService, GetStatusRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import {
  createAuthClient,
  createGrpcJsClient,
  detailsOf,
  protocols,
  rejection,
} from "../support/clients.js";
import { callGrpcJs } from "../support/raw-requests.js";
import {
  codeFromConsole,
  killServices,
  type ServiceProcess,
  startService,
} from "../support/service-process.js";

// Sessions and service tokens against the real process: secrets stay out of logs and metrics,
// the email lookup is gated, a session token never travels in a URL, and a lookup tells a caller
// nothing beyond "live" or "not".

const SERVICE_TOKEN = "service-token-of-at-least-32-characters-0001";
const OTHER_SERVICE_TOKEN = "service-token-of-at-least-32-characters-0002";
const EMAIL = "ada@example.com";

afterEach(killServices);

async function start(env: Record<string, string> = {}) {
  const { service, port, grpcPort } = await startService({
    SERVICE_TOKENS: `${SERVICE_TOKEN},${OTHER_SERVICE_TOKEN}`,
    ...env,
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  return { service, baseUrl, grpcPort, json: createAuthClient("connect-json-h1", baseUrl) };
}

async function login(service: ServiceProcess, baseUrl: string, email = EMAIL) {
  const client = createAuthClient("grpc", baseUrl);
  const { otpId } = await client.requestOtp({ email });
  return client.verifyOtp({ email, otp: await codeFromConsole(service, otpId) });
}

/** A Connect JSON POST, answered as status and body text. */
async function post(baseUrl: string, method: string, body: object) {
  const res = await fetch(`${baseUrl}/auth.v1.AuthService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}

describe("session tokens and access tokens never reach logs or metrics", () => {
  it("no line of output and no metric holds a token or a service token", async () => {
    const { service, baseUrl, json } = await start({ LOG_LEVEL: "trace" });
    const first = await login(service, baseUrl);
    const second = await login(service, baseUrl);
    const status = await json.getStatus({ sessionToken: first.sessionToken });
    await json.getStatus(
      { email: EMAIL },
      { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } },
    );
    await rejection(
      json.getStatus({ email: EMAIL }, { headers: { authorization: `Bearer ${SERVICE_TOKEN}x` } }),
    );
    await json.listSessions({ sessionToken: second.sessionToken });
    await rejection(json.listSessions({ sessionToken: `${second.sessionToken}!` }));
    await json.signOut({ sessionToken: second.sessionToken, sessionId: first.sessionId });
    await json.signOut({ sessionToken: first.sessionToken });
    await json.getStatus({ sessionToken: first.sessionToken });
    await rejection(json.getStatus({ email: "", sessionToken: `${second.sessionToken}!` }));
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    service.child.kill("SIGTERM");
    await service.exited;

    const secrets = {
      firstSession: first.sessionToken,
      secondSession: second.sessionToken,
      firstAccess: first.accessToken,
      secondAccess: second.accessToken,
      freshAccess: status.accessToken,
      // Any part of a JWT would do to rebuild it; its signature is the part only we can make.
      signature: first.accessToken.split(".")[2] as string,
      serviceToken: SERVICE_TOKEN,
    };
    const output = `${service.stdout()}\n${service.stderr()}\n${metrics}`;
    expect(service.logs().filter((entry) => entry.msg === "rpc").length).toBeGreaterThanOrEqual(8);
    expect(metrics).toMatch(/otp_auth_session_lookups_total\{result="live"\} 2/);
    expect(metrics).toMatch(/otp_auth_session_lookups_total\{result="not_live"\} 1/);
    expect(metrics).toMatch(/otp_auth_sign_outs_total\{scope="session"\} 1/);
    expect(metrics).toMatch(/otp_auth_sign_outs_total\{scope="other_session"\} 1/);
    expect(metrics).toMatch(/otp_auth_sessions_created_total 2/);
    const leaked = Object.entries(secrets).filter(([, secret]) => output.includes(secret));
    expect(
      leaked.map(([name]) => name),
      "secrets found in output or metrics",
    ).toEqual([]);
  });
});

describe("SERVICE_TOKENS gates GetStatus by email", () => {
  it.each(protocols)(
    "over %s: missing or wrong is CALLER_UNAUTHENTICATED, right answers",
    async (protocol) => {
      const { service, baseUrl } = await start();
      await login(service, baseUrl);
      const client = createAuthClient(protocol, baseUrl);
      const lookUp = (authorization?: string) =>
        client.getStatus(
          { email: EMAIL },
          authorization === undefined ? {} : { headers: { authorization } },
        );
      for (const authorization of [
        undefined,
        "",
        `Bearer ${SERVICE_TOKEN.slice(0, -1)}`,
        `Bearer ${SERVICE_TOKEN}0`,
        `Basic ${SERVICE_TOKEN}`,
        SERVICE_TOKEN,
      ]) {
        const error = await rejection(lookUp(authorization));
        expect(error.code, String(authorization)).toBe(Code.Unauthenticated);
        expect(detailsOf(error).errorInfo).toMatchObject({
          reason: "CALLER_UNAUTHENTICATED",
          domain: "auth.v1",
        });
      }
      expect((await lookUp(`Bearer ${SERVICE_TOKEN}`)).authenticated).toBe(true);
      expect((await lookUp(`bearer ${OTHER_SERVICE_TOKEN}`)).authenticated).toBe(true);
    },
  );

  it("at GRPC_PORT (the grpc-js door), from `authorization` metadata, the same", async () => {
    const { service, baseUrl, grpcPort } = await start();
    await login(service, baseUrl);
    const client = createGrpcJsClient(grpcPort as number);
    const lookUp = (authorization?: string) =>
      callGrpcJs<{ authenticated: boolean }>(
        client,
        "GetStatus",
        create(GetStatusRequestSchema, { email: EMAIL }),
        authorization === undefined ? {} : { metadata: { authorization } },
      );
    for (const authorization of [undefined, `Bearer ${SERVICE_TOKEN}0`, SERVICE_TOKEN]) {
      const error = await rejection(lookUp(authorization));
      expect(error.code, String(authorization)).toBe(Code.Unauthenticated);
      expect(detailsOf(error).errorInfo?.reason).toBe("CALLER_UNAUTHENTICATED");
    }
    expect((await lookUp(`Bearer ${SERVICE_TOKEN}`)).authenticated).toBe(true);
    expect((await lookUp(`bearer ${OTHER_SERVICE_TOKEN}`)).authenticated).toBe(true);
    client.close();
  });

  it("a session lookup needs no service token", async () => {
    const { service, baseUrl, json } = await start();
    const verified = await login(service, baseUrl);
    expect((await json.getStatus({ sessionToken: verified.sessionToken })).authenticated).toBe(
      true,
    );
  });

  it("unset, email lookups are refused alike (closed by default)", async () => {
    const { service, port } = await startService({});
    const baseUrl = `http://127.0.0.1:${port}`;
    await login(service, baseUrl);
    const client = createAuthClient("grpc", baseUrl);
    for (const authorization of [undefined, `Bearer ${SERVICE_TOKEN}`]) {
      const error = await rejection(
        client.getStatus(
          { email: EMAIL },
          authorization === undefined ? {} : { headers: { authorization } },
        ),
      );
      expect(error.code, String(authorization)).toBe(Code.Unauthenticated);
      expect(detailsOf(error).errorInfo?.reason).toBe("CALLER_UNAUTHENTICATED");
    }
  });

  it("unset, with STATUS_BY_EMAIL=open email lookups are open (development), with a warning", async () => {
    const { service, port } = await startService({ STATUS_BY_EMAIL: "open" });
    const baseUrl = `http://127.0.0.1:${port}`;
    await login(service, baseUrl);
    const status = await createAuthClient("grpc", baseUrl).getStatus({ email: EMAIL });
    expect(status.authenticated).toBe(true);
    expect(service.logs()).toContainEqual(
      expect.objectContaining({ level: "warn", msg: "status by email is open" }),
    );
  });
});

describe("a session token never travels in a URL", () => {
  it("a Connect GET carrying one is INVALID_ARGUMENT naming session_token; by email it is served", async () => {
    const { service, baseUrl } = await start();
    const verified = await login(service, baseUrl);
    // A client that sends GetStatus (NO_SIDE_EFFECTS) as a Connect GET, as browsers may.
    const viaGet = createClient(
      AuthService,
      createConnectTransport({ baseUrl, httpVersion: "1.1", useHttpGet: true }),
    );
    const error = await rejection(viaGet.getStatus({ sessionToken: verified.sessionToken }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(detailsOf(error).errorInfo?.reason).toBe("INVALID_ARGUMENT");
    expect(detailsOf(error).badRequest?.fieldViolations.map((v) => v.field)).toEqual([
      "session_token",
    ]);
    // The same request as a POST is answered.
    expect((await post(baseUrl, "GetStatus", { sessionToken: verified.sessionToken })).status).toBe(
      200,
    );
    const byEmail = await viaGet.getStatus(
      { email: EMAIL },
      { headers: { authorization: `Bearer ${SERVICE_TOKEN}` } },
    );
    expect(byEmail.authenticated).toBe(true);
  });
});

describe("no oracle in a session lookup", () => {
  it("an unknown token answers exactly like a revoked one, and like an expired one", async () => {
    const { service, baseUrl, json } = await start({ SESSION_TTL: "2s" });
    const revoked = await login(service, baseUrl);
    const expired = await login(service, baseUrl, "grace@example.com");
    await json.signOut({ sessionToken: revoked.sessionToken });
    const unknownToken = "A".repeat(revoked.sessionToken.length);
    const answers = async () => ({
      unknown: await post(baseUrl, "GetStatus", { sessionToken: unknownToken }),
      revoked: await post(baseUrl, "GetStatus", { sessionToken: revoked.sessionToken }),
    });
    const now = await answers();
    expect(now.unknown).toEqual({ status: 200, body: "{}" });
    expect(now.revoked).toEqual(now.unknown);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(await post(baseUrl, "GetStatus", { sessionToken: expired.sessionToken })).toEqual(
      now.unknown,
    );
    // SignOut too: an unknown, a revoked and an expired token are all simply OK.
    for (const sessionToken of [unknownToken, revoked.sessionToken, expired.sessionToken]) {
      expect(await post(baseUrl, "SignOut", { sessionToken })).toEqual({ status: 200, body: "{}" });
    }
  });
});
