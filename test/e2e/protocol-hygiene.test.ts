import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrape } from "../support/prometheus-text.js";
import { SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// What a stranger can make the service say about itself by speaking its protocols wrongly
// (SPEC.md "Protocol hygiene"): a refusal in the error table's shape, a 4xx, logged below error
// level and counted under its own code, never UNKNOWN; and the headers every answer carries.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
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
