import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSharedChromium } from "../support/chromium.js";
import { type CrossOrigin, type OtherSite, serveAcrossOrigins } from "../support/other-site.js";
import type { TestServer } from "../support/test-server.js";

// A page on another origin (another port) calling the service from Chromium: the browser itself
// sends the preflight and decides from the service's CORS headers what the script may read.

/** The other site's page: one function that asks for a code and reports what the script sees. */
const OTHER_SITE_PAGE = `<!doctype html>
<title>another site</title>
<script>
  async function requestOtp(service, email, idempotencyKey) {
    try {
      const res = await fetch(service + "/auth.v1.AuthService/RequestOtp", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "connect-protocol-version": "1",
          "idempotency-key": idempotencyKey,
        },
        body: JSON.stringify({ email }),
      });
      return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
    } catch (error) {
      return { error: String(error) };
    }
  }
</script>`;

interface Seen {
  status?: number;
  retryAfter?: string | null;
  body?: { otpId?: string; code?: string };
  error?: string;
}

const chromium = createSharedChromium();
let site: OtherSite;
let server: TestServer;
let both: CrossOrigin;

beforeAll(async () => {
  both = await serveAcrossOrigins(OTHER_SITE_PAGE, { OTP_REQUEST_LIMIT: "1/1h" });
  ({ site, server } = both);
});

afterAll(async () => {
  await chromium.close();
  await both?.close();
});

/** Opens the other site's page at `url` in Chromium. */
async function openSitePage(url: string): Promise<Page> {
  const page = await (await chromium.browser()).newPage();
  await page.goto(url);
  return page;
}

function requestOtpFromPage(page: Page, email: string, idempotencyKey: string): Promise<Seen> {
  return page.evaluate(
    ([service, address, key]) =>
      (
        globalThis as unknown as {
          requestOtp(service: string, email: string, key: string): Promise<Seen>;
        }
      ).requestOtp(service, address, key),
    [server.baseUrl, email, idempotencyKey] as const,
  );
}

describe("a page on another origin, in a browser", () => {
  it("calls the service and reads retry-after from a limited answer when its origin is listed", async () => {
    const page = await openSitePage(`http://127.0.0.1:${site.port}/`);

    const first = await requestOtpFromPage(page, "dee@example.com", "key-1");
    expect(first.error).toBeUndefined();
    expect(first.status).toBe(200);
    expect(first.body?.otpId).toBeTruthy();

    const second = await requestOtpFromPage(page, "dee@example.com", "key-2");
    expect(second).toMatchObject({
      status: 429,
      retryAfter: "3600",
      body: { code: "resource_exhausted" },
    });
  });

  it("gets nothing when its origin is not listed, and the request is never sent", async () => {
    // Same host and port, other name: http://localhost:<port> is a different origin, not listed.
    const page = await openSitePage(`http://localhost:${site.port}/`);

    const seen = await requestOtpFromPage(page, "eve@example.com", "key-3");
    expect(seen.error).toMatch(/Failed to fetch/);
    expect(server.sender.sent.some((delivery) => delivery.email === "eve@example.com")).toBe(false);
  });
});
