import { afterEach, describe, expect, it } from "vitest";
import { scrape } from "../support/prometheus-text.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.js";

// Seed B's HTTP dialect (SPEC.md "Accounts without an email: seed B's API") over a real server on
// a real socket, as a seed B client calls it: its event sequence replayed step by step, every
// status and every body key checked exactly, the codes taken from a real webhook receiver that
// verifies each delivery's signature.

const SECRET = "webhook-secret-of-at-least-32-characters";
const MINUTE = 60_000;
const USER = "u-123";

let server: TestServer | undefined;
let hook: WebhookReceiver | undefined;
afterEach(async () => {
  await server?.close();
  await hook?.close();
  server = undefined;
  hook = undefined;
});

/** The service with seed B's limits (3 codes per 15 minutes per user, 8 per IP), webhook delivery. */
async function serve(env: Record<string, string> = {}) {
  let now = () => Date.now();
  hook = await startWebhookReceiver({ secret: SECRET, now: () => now() });
  server = await startTestServer(
    {
      OTP_SENDER: "webhook",
      OTP_WEBHOOK_URL: hook.url,
      OTP_WEBHOOK_SECRET: SECRET,
      OTP_REQUEST_LIMIT: "3/15m",
      ...env,
    },
    { realSender: true },
  );
  const clock = server.clock;
  // The receiver checks the signature's timestamp against the service's (fake) clock.
  now = () => clock.now();
  return { server, hook, clock };
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
  method = "POST",
): Promise<Answer> {
  const res = await fetch(`${server?.baseUrl}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: method === "GET" || method === "HEAD" ? undefined : JSON.stringify(body),
  });
  expect(res.headers.get("content-type")).toBe("application/json");
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === "" ? undefined : JSON.parse(text),
  };
}

const request = (key: string | undefined, body: unknown = { user_id: USER, purpose: "login" }) =>
  post("/otp/request", body, key === undefined ? {} : { "idempotency-key": key });
const verify = (code: string, user = USER) =>
  post("/otp/verify", { user_id: user, purpose: "login", code });

/** A six-digit code that is certainly not `code`. */
const wrong = (code: string) => (code === "000000" ? "111111" : "000000");

describe("seed B's event sequence over its HTTP dialect", () => {
  it("request, replay, wrong code, right code, reuse, limit, lock, expiry — as seed B answers them", async () => {
    const { hook, clock } = await serve();

    // 1. A code is requested for the application's user: 201, delivered to the webhook, signed.
    const first = await request("key-1");
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ otp_id: expect.any(String), ttl: 300, remaining_requests: 2 });
    const delivered = await hook.nextDelivery();
    expect(delivered.verified).toBe(true);
    const payload = delivered.json as unknown as Record<string, unknown>;
    expect(Object.keys(payload).sort()).toEqual([
      "code",
      "expiresAt",
      "externalId",
      "otpId",
      "purpose",
    ]);
    expect(payload).toMatchObject({ externalId: USER, purpose: "login" });
    expect(payload.otpId).toBe((first.body as { otp_id: string }).otp_id);
    const code = payload.code as string;

    // 2. The same Idempotency-Key replays the first answer: no second code, no quota used.
    const replay = await request("key-1");
    expect(replay).toMatchObject({ status: 201, body: first.body });
    expect(hook.received).toHaveLength(1);

    // 3. A wrong code: 401 invalid_code, with the attempts left.
    expect(await verify(wrong(code))).toMatchObject({
      status: 401,
      body: { error: "invalid_code", attempts_remaining: 2 },
    });
    expect((await verify(wrong(code))).body).toEqual({
      error: "invalid_code",
      attempts_remaining: 1,
    });

    // 4. The right code: 200, verified.
    const verified = await verify(code);
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ success: true, message: "verification_successful" });

    // 5. The same code again: 410 code_used.
    const reused = await verify(code);
    expect({ status: reused.status, body: reused.body }).toEqual({
      status: 410,
      body: { error: "code_used" },
    });

    // 6. Two more codes use up the user's three per 15 minutes; the fourth is 429 with the wait.
    expect((await request("key-2")).body).toMatchObject({ remaining_requests: 1 });
    expect((await request("key-3")).body).toMatchObject({ remaining_requests: 0 });
    const limited = await request("key-4");
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({
      error: "rate_limit_exceeded",
      remaining_cooldown_seconds: expect.any(Number),
    });
    const cooldown = (limited.body as { remaining_cooldown_seconds: number })
      .remaining_cooldown_seconds;
    expect(cooldown).toBeGreaterThan(0);
    expect(cooldown).toBeLessThanOrEqual(15 * 60);
    expect(limited.headers.get("retry-after")).toBe(String(cooldown));

    // 7. Three wrong codes lock the user's verification for ten minutes: 429 too_many_attempts.
    await hook.nextDelivery();
    const latest = (await hook.nextDelivery()).json.code;
    expect((await verify(wrong(latest))).body).toEqual({
      error: "invalid_code",
      attempts_remaining: 2,
    });
    await verify(wrong(latest));
    const locked = await verify(wrong(latest));
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual({ error: "too_many_attempts", retry_after_seconds: 600 });
    expect(locked.headers.get("retry-after")).toBe("600");

    // 8. Once the window and the lock have passed, a new code that is not used in time is 410
    // code_expired.
    clock.advance(16 * MINUTE);
    expect((await request("key-5")).status).toBe(201);
    const late = (await hook.nextDelivery()).json.code;
    clock.advance(6 * MINUTE);
    expect(await verify(late)).toMatchObject({ status: 410, body: { error: "code_expired" } });
  });

  it("refuses in seed B's shape: no key, a bad user_id, an unknown user, another method", async () => {
    await serve();
    expect(await request(undefined)).toMatchObject({
      status: 400,
      body: { error: "invalid_request", field: "idempotency_key" },
    });
    const badUser = await request("key-1", { user_id: "has space", purpose: "login" });
    expect({ status: badUser.status, body: badUser.body }).toEqual({
      status: 400,
      body: { error: "invalid_request", field: "user_id" },
    });
    const noUser = await request("key-2", { purpose: "login" });
    expect(noUser.body).toEqual({ error: "invalid_request", field: "user_id" });
    const badCode = await verify("12a456");
    expect(badCode.body).toEqual({ error: "invalid_request", field: "code" });
    const unknown = await verify("123456", "u-nobody");
    expect({ status: unknown.status, body: unknown.body }).toEqual({
      status: 404,
      body: { error: "code_not_found" },
    });
    const notJson = await post("/otp/request", "{", { "idempotency-key": "key-3" });
    expect(notJson.status).toBe(400);
    const get = await post("/otp/request", undefined, {}, "GET");
    expect({ status: get.status, body: get.body, allow: get.headers.get("allow") }).toEqual({
      status: 405,
      body: {
        error: "method_not_allowed",
        message: "GET is not allowed at /otp/request: use POST",
      },
      allow: "POST",
    });
  });

  it("is logged and counted as protocol seed-b, with the RPC it calls", async () => {
    const { server } = await serve();
    await request("key-1");
    await request(undefined);
    const lines = server.logs.filter((entry) => entry.protocol === "seed-b");
    expect(lines).toEqual([
      expect.objectContaining({ method: "auth.v1.AuthService/RequestOtp", code: "OK" }),
      expect.objectContaining({
        method: "auth.v1.AuthService/RequestOtp",
        code: "INVALID_ARGUMENT",
        level: "info",
      }),
    ]);
    const metrics = await scrape(server.baseUrl);
    expect(
      metrics.value("otp_auth_rpc_requests_total", {
        method: "auth.v1.AuthService/RequestOtp",
        code: "OK",
        reason: "",
        listener: "main",
        protocol: "seed-b",
      }),
    ).toBe(1);
  });
});
