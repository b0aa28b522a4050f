import { Code } from "@connectrpc/connect";
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createAuthClient, detailsOf, rejection } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

// An account named by the application's own id (seed B's user_id) logs in over every door of a
// real server, its code delivered by the real webhook sender to a receiver that verifies the
// signature, and its access token verified with jose against the published JWKS.

const ID = "seed-b/User-42";
const SECRET = "webhook-secret-of-at-least-32-characters";
const SERVICE_TOKEN = "a-service-token-of-at-least-32-characters";

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** The service delivering by webhook to a receiver on loopback, behind SERVICE_TOKENS. */
async function serve() {
  let server: TestServer | undefined;
  // The receiver checks the signature's timestamp against the service's (fake) clock.
  const hook = await startWebhookReceiver({
    secret: SECRET,
    now: () => server?.clock.now() ?? Date.now(),
  });
  cleanups.push(() => hook.close());
  server = await startTestServer(
    {
      OTP_IP_REQUEST_LIMIT: "off",
      OTP_SENDER: "webhook",
      OTP_WEBHOOK_URL: hook.url,
      OTP_WEBHOOK_SECRET: SECRET,
      SERVICE_TOKENS: SERVICE_TOKEN,
    },
    { realSender: true },
  );
  const started = server;
  cleanups.push(() => started.close());
  /** The code in the next delivery: signed, to the external id, naming no email. */
  const nextCode = async () => {
    const delivery = await hook.nextDelivery();
    expect(delivery.verified).toBe(true);
    expect(delivery.json).toMatchObject({ externalId: ID, purpose: "login" });
    expect(delivery.json).not.toHaveProperty("email");
    return delivery.json.code;
  };
  return { server: started, nextCode };
}

/** The access token's claims, verified as a backend would: jose and the JWKS document alone. */
async function verifiedClaims(server: TestServer, token: string): Promise<JWTPayload> {
  const jwks = (await (
    await fetch(`${server.baseUrl}/.well-known/jwks.json`)
  ).json()) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: "otp-auth",
    typ: "at+jwt",
    algorithms: ["ES256", "EdDSA"],
    // The service runs on a fake clock.
    currentDate: new Date(server.clock.now()),
  });
  return payload;
}

/** One way in: the four questions of a login, answered as plain values. */
interface Door {
  requestOtp(): Promise<void>;
  verifyOtp(otp: string): Promise<{ sessionToken: string; accessToken: string; userId: string }>;
  sessionStatus(sessionToken: string): Promise<Record<string, unknown>>;
  /** GetStatus by external id, with `authorization` when a token is given. */
  statusById(serviceToken?: string): Promise<{ authenticated: boolean }>;
}

const bearer = (token?: string): Record<string, string> =>
  token === undefined ? {} : { authorization: `Bearer ${token}` };

function connectDoor(protocol: "connect-json-h1" | "grpc", port: (s: TestServer) => number) {
  return (server: TestServer): Door => {
    const client = createAuthClient(protocol, `http://127.0.0.1:${port(server)}`);
    return {
      async requestOtp() {
        await client.requestOtp({ externalId: ID });
      },
      verifyOtp: (otp) => client.verifyOtp({ externalId: ID, otp }),
      async sessionStatus(sessionToken) {
        return { ...(await client.getStatus({ sessionToken })) };
      },
      statusById: (token) => client.getStatus({ externalId: ID }, { headers: bearer(token) }),
    };
  };
}

function restDoor(server: TestServer): Door {
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${server.baseUrl}${path}`, init);
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) {
      throw Object.assign(new Error(String(json.message)), { status: res.status, json });
    }
    return json;
  };
  const post = (path: string, body: object) =>
    call(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return {
    async requestOtp() {
      await post("/auth/request-otp", { external_id: ID });
    },
    verifyOtp: async (otp) =>
      (await post("/auth/verify-otp", { externalId: ID, otp })) as Awaited<
        ReturnType<Door["verifyOtp"]>
      >,
    sessionStatus: (sessionToken) => post("/auth/status", { sessionToken }),
    statusById: async (token) =>
      (await call(`/auth/status?external_id=${encodeURIComponent(ID)}`, {
        headers: bearer(token),
      })) as { authenticated: boolean },
  };
}

const doors: [string, (server: TestServer) => Door][] = [
  ["Connect JSON", connectDoor("connect-json-h1", (s) => s.port)],
  ["gRPC at the main port", connectDoor("grpc", (s) => s.port)],
  ["gRPC at GRPC_PORT", connectDoor("grpc", (s) => s.grpcPort as number)],
  ["REST", restDoor],
];

describe.each(doors)("an account named by external id, over %s", (_name, open) => {
  it("logs in with the webhook's code; its token says ext, not email; GetStatus answers the id", async () => {
    const { server, nextCode } = await serve();
    const door = open(server);

    await door.requestOtp();
    const verified = await door.verifyOtp(await nextCode());

    const claims = await verifiedClaims(server, verified.accessToken);
    expect(claims).toMatchObject({ sub: verified.userId, ext: ID, purpose: "login" });
    expect(claims).not.toHaveProperty("email");

    const session = await door.sessionStatus(verified.sessionToken);
    expect(session).toMatchObject({
      authenticated: true,
      externalId: ID,
      userId: verified.userId,
    });
    expect(session.email ?? "").toBe("");
    const fresh = await verifiedClaims(server, String(session.accessToken));
    expect(fresh).toMatchObject({ sub: verified.userId, ext: ID });
    expect(fresh).not.toHaveProperty("email");

    // A trusted service's question, behind SERVICE_TOKENS as by email.
    expect((await door.statusById(SERVICE_TOKEN)).authenticated).toBe(true);
    const refused = await door.statusById().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
  });
});

describe("an account named by external id", () => {
  it("is refused GetStatus by id without a service token, as an email is", async () => {
    const { server } = await serve();
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    const error = await rejection(client.getStatus({ externalId: ID }));
    expect({ code: Code[error.code], reason: detailsOf(error).errorInfo?.reason }).toEqual({
      code: Code[Code.Unauthenticated],
      reason: "CALLER_UNAUTHENTICATED",
    });
  });

  it("shows in the call's log line as externalId, with no email", async () => {
    const { server, nextCode } = await serve();
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    await client.requestOtp({ externalId: ID }, { headers: { "x-request-id": "ext-1" } });
    await nextCode();
    const line = server.logs.find((entry) => entry.msg === "rpc" && entry.requestId === "ext-1");
    expect(line).toMatchObject({ code: "OK", externalId: ID });
    expect(line).not.toHaveProperty("email");
  });
});
