import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detailsOf } from "../support/clients.js";
import { scrape } from "../support/prometheus-text.js";
import { errorFromConnectResponse } from "../support/raw-requests.js";
import { SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// What a stranger can make the service say about itself by speaking its protocols wrongly
// (SPEC.md "Protocol hygiene"): a refusal in the error table's shape, a 4xx, logged below error
// level and counted under its own code, never UNKNOWN; and the headers every answer carries.

let server: TestServer;

beforeAll(async () => {
  // Off so that the JSON policy's table, which asks for many codes from one address, meets no limit.
  server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN, OTP_IP_REQUEST_LIMIT: "off" });
});

afterAll(() => server.close());

/** The log entry of the service's last call. */
function lastCall(): Record<string, unknown> | undefined {
  return server.logs.filter((entry) => entry.msg === "rpc").at(-1);
}

describe("a method the RPC route does not take", () => {
  it.each([
    ["PUT", "/auth.v1.AuthService/RequestOtp", "POST"],
    ["DELETE", "/auth.v1.AuthService/SignOut", "POST"],
    ["GET", "/auth.v1.AuthService/SignOut", "POST"],
    ["PUT", "/auth.v1.AuthService/GetStatus", "POST, GET"],
  ])("%s %s is a 405 with Allow, logged at info as UNIMPLEMENTED", async (method, path, allow) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(method === "GET" ? {} : { body: "{}" }),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe(allow);
    expect(await res.json()).toMatchObject({
      code: "unimplemented",
      details: [{ type: "google.rpc.ErrorInfo" }],
    });
    expect(lastCall()).toMatchObject({
      level: "info",
      code: "UNIMPLEMENTED",
      reason: "METHOD_NOT_ALLOWED",
    });
    expect(server.internalErrors).toEqual([]);
  });

  it("is counted under its own code, never UNKNOWN", async () => {
    await fetch(`${server.baseUrl}/auth.v1.AuthService/RequestOtp`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const metrics = await scrape(server.baseUrl);
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/RequestOtp",
        code: "UNIMPLEMENTED",
        reason: "METHOD_NOT_ALLOWED",
        listener: "main",
        protocol: "connect",
      }),
    ).toBeGreaterThan(0);
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/RequestOtp",
        code: "UNKNOWN",
        reason: "",
        listener: "main",
        protocol: "connect",
      }),
    ).toBe(0);
  });
});

describe("the headers of every answer", () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  it("say X-Content-Type-Options: nosniff, on the API, its refusals, unknown paths and the login page", async () => {
    const answers = [
      await post("/auth.v1.AuthService/RequestOtp", { email: "ada@example.com" }),
      await post("/auth.v1.AuthService/RequestOtp", { email: "not an email" }),
      await post("/auth/request-otp", { email: "bob@example.com" }),
      await fetch(`${server.baseUrl}/nothing/here`),
      await fetch(`${server.baseUrl}/`),
      await fetch(`${server.baseUrl}/.well-known/jwks.json`),
    ];
    expect(answers.map((res) => res.headers.get("x-content-type-options"))).toEqual(
      answers.map(() => "nosniff"),
    );
  });

  it("keep token-bearing answers out of every cache (no-store), and leave GetStatus by email cacheable", async () => {
    await post("/auth.v1.AuthService/RequestOtp", { email: "cy@example.com" });
    const code = server.sender.lastCodeFor("cy@example.com");
    const verified = await post("/auth.v1.AuthService/VerifyOtp", {
      email: "cy@example.com",
      otp: code,
    });
    expect(verified.status).toBe(200);
    expect(verified.headers.get("cache-control")).toBe("no-store");
    const { sessionToken } = (await verified.json()) as { sessionToken: string };
    const byToken = await post("/auth/status", { sessionToken });
    expect(byToken.status).toBe(200);
    expect(byToken.headers.get("cache-control")).toBe("no-store");
    const byEmail = await fetch(`${server.baseUrl}/auth/status?email=cy%40example.com`, {
      headers: serviceAuthorization,
    });
    expect(byEmail.status).toBe(200);
    expect(byEmail.headers.get("cache-control")).toBeNull();
  });
});

describe("one JSON policy on Connect JSON, REST and seed B's dialect", () => {
  type Door = "Connect JSON" | "REST" | "seed B";
  type Refusal = "undecodable body" | "unsupported content type";

  // Each door's RequestOtp, with the members of a body it takes; a fresh account every time, so
  // that the email limit never answers instead.
  let account = 0;
  const doors: Record<Door, { path: string; members: () => string }> = {
    "Connect JSON": {
      path: "/auth.v1.AuthService/RequestOtp",
      members: () => `"email":"json-${++account}@example.com"`,
    },
    REST: { path: "/auth/request-otp", members: () => `"email":"json-${++account}@example.com"` },
    "seed B": { path: "/otp/request", members: () => `"user_id":"json-${++account}"` },
  };

  /** What `door` answered and logged, in terms every door's answer can be compared in. */
  async function send(
    door: Door,
    contentType: string,
    body: (members: string) => string | Uint8Array,
  ) {
    const res = await fetch(`${server.baseUrl}${doors[door].path}`, {
      method: "POST",
      headers: { "content-type": contentType, "idempotency-key": randomUUID() },
      body: body(doors[door].members()),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const logged = lastCall();
    const answer = { status: res.status, level: logged?.level, code: logged?.code };
    if (res.status < 300) {
      return answer;
    }
    let field: string | undefined;
    let message: string | undefined;
    if (door === "Connect JSON") {
      const error = errorFromConnectResponse(res.status, bytes);
      field = detailsOf(error).badRequest?.fieldViolations[0]?.field;
      message = error.rawMessage;
    } else {
      const json = JSON.parse(new TextDecoder().decode(bytes));
      // REST's google.rpc.Status names the field in ErrorInfo; seed B's {"error", "field"} has
      // no message, and tells the refusals apart by its status alone.
      field = door === "REST" ? json.details[0].metadata.field : json.field;
      message = json.message;
    }
    const says = message?.startsWith("unsupported content-type")
      ? "unsupported content type"
      : message?.startsWith("the request body could not be decoded")
        ? "undecodable body"
        : message;
    return { ...answer, reason: logged?.reason, field, says };
  }

  /** A refusal as `door` words it: logged at info, counted as INVALID_ARGUMENT naming the body. */
  function refused(door: Door, refusal: Refusal) {
    const rest = refusal === "unsupported content type" ? 415 : 400;
    return {
      status: door === "Connect JSON" ? 400 : rest,
      level: "info",
      code: "INVALID_ARGUMENT",
      reason: "INVALID_ARGUMENT",
      field: "body",
      says: door === "seed B" ? undefined : refusal,
    };
  }

  const utf16 = (text: string) => new Uint8Array(Buffer.from(`\ufeff${text}`, "utf16le"));

  it.each<[string, string, (members: string) => string | Uint8Array, Refusal | "accepted"]>([
    ["duplicate keys", "application/json", (m) => `{${m},${m}}`, "undecodable body"],
    [
      "a duplicate key in a nested object",
      "application/json",
      (m) => `{${m},"purpose":"login","extra":{"a":1,"b":[{"c":1,"c":2}]}}`,
      "undecodable body",
    ],
    [
      "charset=latin1",
      "application/json; charset=latin1",
      (m) => `{${m}}`,
      "unsupported content type",
    ],
    [
      "charset=utf-16",
      "application/json; charset=utf-16",
      (m) => utf16(`{${m}}`),
      "unsupported content type",
    ],
    ['charset="UTF-8"', 'application/json; charset="UTF-8"', (m) => `{${m}}`, "accepted"],
    [
      "charset=utf-8 among other parameters",
      "application/json;charset=UTF-8; v=1",
      (m) => `{${m}}`,
      "accepted",
    ],
    ["an empty body", "application/json", () => "", "undecodable body"],
    ["a body of only whitespace", "application/json", () => " \r\n\t", "undecodable body"],
  ])("%s: the same answer on every door", async (_case, contentType, body, expected) => {
    for (const door of Object.keys(doors) as Door[]) {
      const answer = await send(door, contentType, body);
      if (expected === "accepted") {
        expect({ door, ...answer }).toEqual({
          door,
          status: door === "seed B" ? 201 : 200,
          level: "info",
          code: "OK",
        });
      } else {
        expect({ door, ...answer }).toEqual({ door, ...refused(door, expected) });
      }
    }
    expect(server.internalErrors).toEqual([]);
  });

  it("counts the refusals under INVALID_ARGUMENT on every door, never UNKNOWN", async () => {
    for (const door of Object.keys(doors) as Door[]) {
      await send(door, "application/json", (m) => `{${m},${m}}`);
    }
    const metrics = await scrape(server.baseUrl);
    for (const protocol of ["connect", "rest", "seed-b"]) {
      const count = (code: string, reason: string) =>
        metrics.value("otp_auth_rpc_requests_total", {
          method: "auth.v1.AuthService/RequestOtp",
          code,
          reason,
          listener: "main",
          protocol,
        });
      expect(count("INVALID_ARGUMENT", "INVALID_ARGUMENT"), protocol).toBeGreaterThan(0);
      expect(count("UNKNOWN", ""), protocol).toBe(0);
    }
  });
});
