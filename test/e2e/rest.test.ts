import { afterEach, describe, expect, it } from "vitest";
import { createFailingStore } from "../support/fakes.js";
import { createOpenApiChecker } from "../support/openapi-conformance.js";
import { scrape } from "../support/prometheus-text.js";
import { http2Request } from "../support/raw-requests.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// The REST routes (SPEC "REST") over a real server on a real socket: the same rules, error
// table, limits, client address, CORS, metrics and logs as the RPCs.
const EMAIL = "ada@example.com";
const JSON_TYPE = { "content-type": "application/json" };

interface StatusBody {
  code: number;
  message: string;
  details: {
    "@type": string;
    reason?: string;
    domain?: string;
    metadata?: Record<string, string>;
  }[];
}

// Every answer `call` sees must also conform to the OpenAPI document (GET /openapi.json).
const openApi = createOpenApiChecker();

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/**
 * Seed A's REST routes, its unauthenticated `GET /auth/status?email=` among them: that lookup
 * needs STATUS_BY_EMAIL=open (closed by default, see status-by-email.test.ts).
 */
async function serve(env: Record<string, string> = {}, options = {}): Promise<TestServer> {
  server = await startTestServer(
    { OTP_IP_REQUEST_LIMIT: "off", STATUS_BY_EMAIL: "open", ...env },
    options,
  );
  return server;
}

async function call(path: string, init: RequestInit & { json?: unknown } = {}) {
  const { json, ...rest } = init;
  const res = await fetch(`${server?.baseUrl}${path}`, {
    ...(json === undefined ? {} : { method: "POST", body: JSON.stringify(json) }),
    ...rest,
    headers: { ...(json === undefined ? {} : JSON_TYPE), ...(rest.headers as object) },
  });
  const text = await res.text();
  const method = rest.method ?? (json === undefined ? "GET" : "POST");
  const answer = { method, path, status: res.status, headers: res.headers, body: text };
  expect(openApi.problems(answer), `${method} ${path} against the OpenAPI document`).toEqual([]);
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: text === "" ? undefined : JSON.parse(text),
  };
}

const requestOtp = (body: unknown, headers: Record<string, string> = {}) =>
  call("/auth/request-otp", { json: body, headers });
const verifyOtp = (body: unknown) => call("/auth/verify-otp", { json: body });

/** Expects a google.rpc.Status answer with `status` and ErrorInfo `reason` (domain auth.v1). */
function expectRefused(
  answer: Awaited<ReturnType<typeof call>>,
  status: number,
  code: number,
  reason: string,
): StatusBody {
  const body = answer.body as StatusBody;
  expect({ status: answer.status, code: body.code }).toEqual({ status, code });
  expect(answer.headers.get("content-type")).toBe("application/json");
  expect(typeof body.message).toBe("string");
  expect(body.details[0]).toMatchObject({
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    reason,
    domain: "auth.v1",
  });
  return body;
}

describe("the REST routes", () => {
  it("log in: request a code, verify it, then the status says authenticated (GET and POST)", async () => {
    const { sender } = await serve();
    const issued = await requestOtp({ email: EMAIL });
    expect(issued.status).toBe(200);
    expect(issued.body).toMatchObject({ ttl: "300s", remainingRequests: 2, codeLength: 6 });
    expect(Object.keys(issued.body)).toEqual([
      "otpId",
      "expiresAt",
      "ttl",
      "remainingRequests",
      "codeLength",
    ]);

    // Default values are written out: not {}.
    const notAuthenticated = {
      authenticated: false,
      email: "",
      purpose: "",
      sessionId: "",
      accessToken: "",
      userId: "",
      externalId: "",
    };
    expect((await call(`/auth/status?email=${EMAIL}`)).body).toEqual(notAuthenticated);

    const verified = await verifyOtp({ email: EMAIL, otp: sender.lastCodeFor(EMAIL) });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ authenticated: true });
    const at = verified.body.authenticatedAt;
    const sessionToken = verified.body.sessionToken as string;
    expect(sessionToken).toMatch(/^[A-Za-z0-9_-]{22,}$/);

    const byEmail = { ...notAuthenticated, authenticated: true, authenticatedAt: at };
    expect((await call(`/auth/status?email=${EMAIL}`)).body).toEqual(byEmail);
    expect((await call("/auth/status", { json: { email: EMAIL } })).body).toEqual(byEmail);

    // The session flow: status by token (in a body only), sign out, and the token is dead.
    const bySession = await call("/auth/status", { json: { sessionToken } });
    expect(bySession.body).toMatchObject({
      authenticated: true,
      email: EMAIL,
      purpose: "login",
      sessionId: verified.body.sessionId,
      userId: verified.body.userId,
    });
    expect(bySession.body.accessToken).toMatch(/^eyJ/);
    expectRefused(
      await call(`/auth/status?session_token=${sessionToken}`),
      400,
      3,
      "INVALID_ARGUMENT",
    );
    const signedOut = await call("/auth/sign-out", { json: { sessionToken } });
    expect({ status: signedOut.status, body: signedOut.body }).toEqual({ status: 200, body: {} });
    expect((await call("/auth/status", { json: { sessionToken } })).body).toEqual(notAuthenticated);
  });

  it("reads proto field names as well as lowerCamel, and ignores unknown body fields", async () => {
    await serve();
    expect((await requestOtp({ email: EMAIL, purpose: "login", future_field: 1 })).status).toBe(
      200,
    );
    expect((await call("/auth/status", { json: { email: EMAIL } })).status).toBe(200);
  });

  it("replays an idempotent RequestOtp: same otpId, no second code", async () => {
    const { sender } = await serve();
    const key = { "idempotency-key": "retry-1" };
    const first = await requestOtp({ email: EMAIL }, key);
    const second = await requestOtp({ email: EMAIL }, key);
    expect(second.body).toEqual(first.body);
    expect(sender.sent).toHaveLength(1);
    expectRefused(
      await requestOtp({ email: EMAIL, purpose: "reset" }, key),
      400,
      9,
      "IDEMPOTENCY_KEY_MISMATCH",
    );
  });

  describe("query strings", () => {
    it("decode %2B as + and + as a space (application/x-www-form-urlencoded)", async () => {
      const { sender } = await serve();
      const email = "ada+otp@example.com";
      await requestOtp({ email });
      await verifyOtp({ email, otp: sender.lastCodeFor(email) });
      expect((await call("/auth/status?email=ada%2Botp@example.com")).body).toMatchObject({
        authenticated: true,
      });
      const spaced = await call("/auth/status?email=ada+otp@example.com");
      expect(expectRefused(spaced, 400, 3, "INVALID_ARGUMENT").details[0]?.metadata).toEqual({
        field: "email",
      });
    });

    it.each([
      ["a parameter that names no field", "email=a@b.co&nope=1", "nope"],
      ["a singular field given twice", "email=a@b.co&email=c@d.co", "email"],
      ["a session token (secrets only in a body)", "session_token=abc", "session_token"],
      ["a session token by its JSON name", "sessionToken=abc", "sessionToken"],
      ["malformed percent-encoding", "email=%E0%A4%A", "email"],
    ])("refuse %s with 400 naming it", async (_what, query, field) => {
      await serve();
      const body = expectRefused(await call(`/auth/status?${query}`), 400, 3, "INVALID_ARGUMENT");
      expect(body.details[0]?.metadata).toEqual({ field });
      expect(body.details[1]).toMatchObject({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        fieldViolations: [{ field }],
      });
    });

    it("are refused on body-* routes: every field comes from the body", async () => {
      await serve();
      const answer = await call("/auth/request-otp?email=a@b.co", { json: { email: EMAIL } });
      expect(expectRefused(answer, 400, 3, "INVALID_ARGUMENT").details[0]?.metadata).toEqual({
        field: "email",
      });
    });
  });

  // The error table itself runs over REST in error-table.test.ts, as over every protocol; these
  // are what only REST's wire shows: its body reader, 415, the JSON of details, the 500 body.
  describe("the error table in REST's wire", () => {
    it.each([
      ["not JSON", "{", 400],
      ["not UTF-8", Buffer.from([0x7b, 0x22, 0x65, 0xff, 0x22, 0x7d]), 400],
      ["an array", "[]", 400],
      ["a field of the wrong type", '{"email":5}', 400],
    ])("an undecodable body (%s) is 400 naming the body", async (_what, body, status) => {
      await serve();
      const answer = await call("/auth/request-otp", { method: "POST", headers: JSON_TYPE, body });
      expect(expectRefused(answer, status, 3, "INVALID_ARGUMENT").details[0]?.metadata).toEqual({
        field: "body",
      });
    });

    it("a body that is not JSON is 415", async () => {
      await serve();
      const answer = await call("/auth/request-otp", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `email=${EMAIL}`,
      });
      expect(expectRefused(answer, 415, 3, "INVALID_ARGUMENT").details[0]?.metadata).toEqual({
        field: "body",
      });
    });

    it("the email limit is 429 OTP_REQUEST_LIMIT with Retry-After and RetryInfo", async () => {
      await serve({ OTP_REQUEST_LIMIT: "1/1h" });
      await requestOtp({ email: EMAIL });
      const answer = await requestOtp({ email: EMAIL });
      const body = expectRefused(answer, 429, 8, "OTP_REQUEST_LIMIT");
      expect(answer.headers.get("retry-after")).toBe("3600");
      expect(body.details.map((detail) => detail["@type"])).toEqual([
        "type.googleapis.com/google.rpc.ErrorInfo",
        "type.googleapis.com/google.rpc.QuotaFailure",
        "type.googleapis.com/google.rpc.RetryInfo",
      ]);
      expect(body.details[2]).toMatchObject({ retryDelay: "3600s" });
    });

    it("the client IP limit is 429 IP_REQUEST_LIMIT, by the address X-Forwarded-For gives behind a trusted proxy", async () => {
      await serve({ OTP_IP_REQUEST_LIMIT: "1/15m", TRUST_PROXY: "127.0.0.1" });
      const from = (ip: string) => ({ "x-forwarded-for": ip });
      expect((await requestOtp({ email: "a@example.com" }, from("203.0.113.7"))).status).toBe(200);
      expect((await requestOtp({ email: "b@example.com" }, from("203.0.113.8"))).status).toBe(200);
      const answer = await requestOtp({ email: "c@example.com" }, from("203.0.113.7"));
      expectRefused(answer, 429, 8, "IP_REQUEST_LIMIT");
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
    });

    it("a bug is 500 with nothing told", async () => {
      const bug = new Error("postgres://otp:s3cret@db is malformed");
      const buggy = await serve({}, { store: createFailingStore(() => bug) });
      const answer = await call(`/auth/status?email=${EMAIL}`);
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({ code: 13, message: "internal error", details: [] });
      expect(buggy.internalErrors).toEqual([bug]);
    });
  });

  describe("paths and methods", () => {
    it("an unknown path, or a trailing slash, is 404 in the same shape", async () => {
      await serve();
      for (const path of ["/auth/status/", "/auth/nope", "/auth//status", "/nothing/here"]) {
        const answer = await call(path);
        expect(answer.status, path).toBe(404);
        expect(answer.body, path).toEqual({
          code: 5,
          message: `no route for GET ${path}`,
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "ROUTE_NOT_FOUND",
              domain: "auth.v1",
              metadata: {},
            },
          ],
        });
      }
    });

    it("a known path with another method is 405 with Allow", async () => {
      await serve();
      const get = await call("/auth/request-otp");
      expect(get.status).toBe(405);
      expect(get.headers.get("allow")).toBe("OPTIONS, POST");
      expect(get.body).toMatchObject({ code: 12, details: [{ reason: "METHOD_NOT_ALLOWED" }] });
      const del = await call("/auth/status", { method: "DELETE" });
      expect(del.headers.get("allow")).toBe("GET, HEAD, OPTIONS, POST");
    });

    it("404 and 405 are calls like any other: logged below error level, counted, with a request id", async () => {
      const { logs } = await serve();
      const missing = await call("/auth/nope", { headers: { "x-request-id": "req-404" } });
      expect(missing.headers.get("x-request-id")).toBe("req-404");
      await call("/auth/request-otp");
      expect(logs.filter((entry) => entry.method === "unrouted")).toEqual([
        expect.objectContaining({
          level: "info",
          code: "NOT_FOUND",
          reason: "ROUTE_NOT_FOUND",
          requestId: "req-404",
          protocol: "rest",
        }),
        expect.objectContaining({
          level: "info",
          code: "UNIMPLEMENTED",
          reason: "METHOD_NOT_ALLOWED",
          protocol: "rest",
        }),
      ]);
      const metrics = await scrape(server?.baseUrl as string);
      expect(
        metrics.value("otp_auth_rpc_requests_total", {
          method: "unrouted",
          code: "NOT_FOUND",
          reason: "ROUTE_NOT_FOUND",
          listener: "main",
          protocol: "rest",
        }),
      ).toBe(1);
    });

    it("HEAD answers GET's status and length without a body; OPTIONS lists the methods", async () => {
      await serve();
      const head = await call(`/auth/status?email=${EMAIL}`, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(
        String((await call(`/auth/status?email=${EMAIL}`)).text.length),
      );
      expect(head.body).toBeUndefined();
      const options = await call("/auth/verify-otp", { method: "OPTIONS" });
      expect(options.status).toBe(204);
      expect(options.headers.get("allow")).toBe("OPTIONS, POST");
    });

    it("answers over HTTP/2 too", async () => {
      const { port } = await serve();
      const res = await http2Request(port, { method: "GET", path: `/auth/status?email=${EMAIL}` });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toMatchObject({ authenticated: false, email: "" });
    });
  });

  it("answers a CORS preflight from an allowed origin, and exposes Retry-After to the page", async () => {
    await serve({ CORS_ORIGINS: "https://app.example.com", OTP_REQUEST_LIMIT: "1/1h" });
    const origin = { origin: "https://app.example.com" };
    const preflight = await call("/auth/request-otp", {
      method: "OPTIONS",
      headers: {
        ...origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, idempotency-key",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("idempotency-key");
    await requestOtp({ email: EMAIL }, origin);
    const limited = await requestOtp({ email: EMAIL }, origin);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(limited.headers.get("access-control-expose-headers")).toContain("retry-after");
  });

  it("logs calls with protocol rest, counts them with the RPCs, and echoes x-request-id", async () => {
    const { logs } = await serve();
    const answer = await call(`/auth/status?email=${EMAIL}`, {
      headers: { "x-request-id": "req-rest-1" },
    });
    expect(answer.headers.get("x-request-id")).toBe("req-rest-1");
    await requestOtp({ email: "nope" });
    const lines = logs.filter((entry) => entry.protocol === "rest");
    expect(lines).toEqual([
      expect.objectContaining({
        method: "auth.v1.AuthService/GetStatus",
        code: "OK",
        requestId: "req-rest-1",
      }),
      expect.objectContaining({
        method: "auth.v1.AuthService/RequestOtp",
        code: "INVALID_ARGUMENT",
      }),
    ]);
    const metrics = await scrape(server?.baseUrl as string);
    // Counted with the method's RPCs, labelled with the protocol.
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/RequestOtp",
        code: "INVALID_ARGUMENT",
        reason: "INVALID_ARGUMENT",
        listener: "main",
        protocol: "rest",
      }),
    ).toBe(1);
  });
});
