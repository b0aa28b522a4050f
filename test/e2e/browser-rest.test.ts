import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSharedChromium } from "../support/chromium.js";
import { type CrossOrigin, type OtherSite, serveAcrossOrigins } from "../support/other-site.js";
import type { TestServer } from "../support/test-server.js";

// A page on another origin calling the REST routes from Chromium: the browser sends the
// preflight for a JSON POST itself, and reads the answers and Retry-After through CORS.

const PAGE = `<!doctype html>
<title>a REST client</title>
<script>
  async function rest(url, init) {
    try {
      const res = await fetch(url, init);
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
    } catch (error) {
      return { error: String(error) };
    }
  }
</script>`;

interface Seen {
  status?: number;
  retryAfter?: string | null;
  body?: Record<string, unknown>;
  error?: string;
}

const chromium = createSharedChromium();
let site: OtherSite;
let server: TestServer;
let both: CrossOrigin;

beforeAll(async () => {
  // The page asks for the status by email without a token, as seed A's REST allowed.
  both = await serveAcrossOrigins(PAGE, { OTP_REQUEST_LIMIT: "1/1h", STATUS_BY_EMAIL: "open" });
  ({ site, server } = both);
});

afterAll(async () => {
  await chromium.close();
  await both?.close();
});

describe("the REST routes from a page in a browser", () => {
  it("logs in with fetch: JSON POSTs after a preflight, a GET for the status, Retry-After readable", async () => {
    const page = await (await chromium.browser()).newPage();
    await page.goto(`http://127.0.0.1:${site.port}/`);
    const rest = (path: string, init?: { method: string; body: string; key: string }) =>
      page.evaluate(
        ([url, options]) =>
          (globalThis as unknown as { rest(url: string, init?: unknown): Promise<Seen> }).rest(
            url,
            options && {
              method: options.method,
              body: options.body,
              headers: { "content-type": "application/json", "idempotency-key": options.key },
            },
          ),
        [`${server.baseUrl}${path}`, init] as const,
      );
    const post = (path: string, body: unknown, key = "page-1") =>
      rest(path, { method: "POST", body: JSON.stringify(body), key });

    const issued = await post("/auth/request-otp", { email: "dee@example.com" });
    expect(issued).toMatchObject({ status: 200, body: { remainingRequests: 0 } });
    const verified = await post("/auth/verify-otp", {
      email: "dee@example.com",
      otp: server.sender.lastCodeFor("dee@example.com"),
    });
    expect(verified).toMatchObject({ status: 200, body: { authenticated: true } });
    expect(await rest("/auth/status?email=dee%40example.com")).toMatchObject({
      status: 200,
      body: { authenticated: true },
    });

    const limited = await post("/auth/request-otp", { email: "dee@example.com" }, "page-2");
    expect(limited.error).toBeUndefined();
    expect(limited).toMatchObject({ status: 429, retryAfter: "3600", body: { code: 8 } });
  });
});
