import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/test-server.js";

// RequestOtp must not tell a known email from a new one (SPEC.md "No enumeration"). Latency is
// measured by `npm run bench:enumeration`; here: the answer itself, body and headers.

let server: TestServer | undefined;
afterEach(() => server?.close());

/** Headers that differ between any two calls whatever the email: left out of the comparison. */
const PER_CALL = new Set(["date", "x-request-id"]);

async function requestOtp(baseUrl: string, email: string) {
  const response = await fetch(`${baseUrl}/auth.v1.AuthService/RequestOtp`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email }),
  });
  const { otpId, ...body } = (await response.json()) as Record<string, unknown>;
  const headers = [...response.headers].filter(([name]) => !PER_CALL.has(name));
  return { status: response.status, body, headers, otpIdLength: String(otpId).length };
}

describe("RequestOtp for a known and a new email", () => {
  it("answers both with the same status, fields, values and headers", async () => {
    server = await startTestServer();
    const known = "known@example.com";
    // Known: asked for, verified, and out of the limit window again, as a returning user is.
    await requestOtp(server.baseUrl, known);
    const verified = await fetch(`${server.baseUrl}/auth.v1.AuthService/VerifyOtp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: known, otp: server.sender.lastCodeFor(known) }),
    });
    expect(verified.status).toBe(200);
    server.clock.advance(2 * 3_600_000);

    const forKnown = await requestOtp(server.baseUrl, known);
    const forNew = await requestOtp(server.baseUrl, "new@example.com");
    expect(forKnown.status).toBe(200);
    expect(forKnown.body).toHaveProperty("remainingRequests", 2);
    expect(forNew).toEqual(forKnown);
  });
});
