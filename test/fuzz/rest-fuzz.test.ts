import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http1Request } from "../support/raw-requests.js";
import { killServices, startService } from "../support/service-process.js";

// Random bodies, query strings and paths sent to the REST routes of a real service process:
// whatever arrives, the answer is a client error (or a success) as google.rpc.Status JSON,
// never a 5xx, and the service keeps serving. Kept apart from wire-fuzz.test.ts (the RPC
// protocols) so that each door's cases stay in one file.

const ROUTES = ["/auth/request-otp", "/auth/verify-otp", "/auth/status"] as const;
const RUNS = 80;

let port: number;

beforeAll(async () => {
  ({ port } = await startService({
    OTP_REQUEST_LIMIT: "1000000/1h",
    OTP_IP_REQUEST_LIMIT: "off",
    OTP_SENDER: "discard",
    LOG_LEVEL: "silent",
    // Open, so that fuzzed GetStatus requests get past the gate to the email's own checks.
    STATUS_BY_EMAIL: "open",
  }));
});

afterAll(() => {
  killServices();
});

/** JSON-ish bodies: valid JSON of any shape, the right fields with odd values, or raw bytes. */
const bodies = fc.oneof(
  fc.json(),
  fc
    .record(
      { email: fc.anything(), otp: fc.anything(), purpose: fc.anything() },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value) ?? "null"),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)),
);

/** Query strings built from field names, unknown names, escapes (valid or not) and `+`. */
const queries = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        "email",
        "purpose",
        "otp",
        "session_token",
        "sessionToken",
        "x",
        "email.x",
        "",
      ),
      fc.stringMatching(/^(?:[a-z@.+=&]|%[0-9A-Fa-f]{0,2}|%E0%A4%A)*$/),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join("&"));

function expectClientAnswer(status: number, body: Buffer, what: string): void {
  expect(status, what).toBeLessThan(500);
  if (status >= 400 && body.length > 0) {
    const parsed = JSON.parse(body.toString()) as { code: unknown; message: unknown };
    expect(typeof parsed.code, what).toBe("number");
    expect(typeof parsed.message, what).toBe("string");
  }
}

describe("the REST routes under random input", () => {
  it("answer random JSON and bytes with a client error in the service's shape", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        bodies,
        fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain"),
        async (path, body, contentType) => {
          const res = await http1Request(port, {
            method: "POST",
            path,
            headers: { "content-type": contentType },
            body,
          });
          expectClientAnswer(res.status, res.body, `${path} ${String(body).slice(0, 80)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("answer random query strings and paths with a client error in the service's shape", async () => {
    await fc.assert(
      fc.asyncProperty(
        queries,
        fc.constantFrom(
          "/auth/status",
          "/auth/status/",
          "/auth//status",
          "/auth/stat%75s",
          "/auth/%ZZ",
        ),
        fc.constantFrom("GET" as const, "HEAD" as const, "POST" as const),
        async (query, path, method) => {
          const res = await http1Request(port, { method, path: `${path}?${query}` });
          expectClientAnswer(
            res.status,
            method === "HEAD" ? Buffer.alloc(0) : res.body,
            `${method} ${path}?${query}`,
          );
        },
      ),
      { numRuns: RUNS },
    );
    // Still serving.
    const after = await http1Request(port, { method: "GET", path: "/auth/status?email=a@b.co" });
    expect(after.status).toBe(200);
  });
});
