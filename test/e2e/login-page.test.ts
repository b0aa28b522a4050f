import { mkdtemp, rm } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLoginPageHandler } from "../../src/server/login-page.js";
import { http1Request, http2Request } from "../support/raw-requests.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// How the service serves its login page (built by `npm run build:web`, which `npm test` runs
// first); browser-login.test.ts uses it in Chromium.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.close();
});

describe("the login page", () => {
  it("is served at / as HTML that loads its script from /login.js", async () => {
    const page = await fetch(`${server.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/login.js"></script>');
    expect(html).toContain('aria-live="polite"');

    const script = await fetch(`${server.baseUrl}/login.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await script.text()).length).toBeGreaterThan(0);
  });

  it("answers HEAD with the length and no body, and over HTTP/2 too", async () => {
    const head = await http1Request(server.port, { method: "HEAD", path: "/" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
    expect(head.body).toHaveLength(0);

    const h2 = await http2Request(server.port, { method: "GET", path: "/login.js" });
    expect(h2.status).toBe(200);
    expect(h2.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  });

  it("refuses other methods with 405", async () => {
    const res = await fetch(`${server.baseUrl}/`, { method: "POST", body: "x" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it.each([
    "/../package.json",
    "/%2e%2e/package.json",
    "/..%2fpackage.json",
    "/login.js/../../../package.json",
    "/index.html",
    "/dist/web/login.js",
    "//etc/passwd",
  ])("serves nothing else from disk: GET %s is 404", async (path) => {
    const res = await http1Request(server.port, { method: "GET", path });
    expect(res.status).toBe(404);
    expect(res.body.toString()).not.toContain("otp-auth");
  });

  it("says how to build it when it has not been built, without a server error", async () => {
    const empty = await mkdtemp(join(tmpdir(), "otp-auth-web-"));
    const bare = http.createServer(createLoginPageHandler(empty));
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/`);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain("npm run build:web");
    } finally {
      await new Promise((resolve) => bare.close(resolve));
      await rm(empty, { recursive: true });
    }
  });
});
