import { rm } from "node:fs/promises";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSharedChromium } from "../support/chromium.js";
import { createAuthClient } from "../support/clients.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// The login page served at `/`, driven in a real headless Chromium against a real server. Every
// step asserts what a person sees (which forms are on screen, not just what the page says) and
// leaves a screenshot in test-results/browser-login/<test>/ (gitignored; see docs/development.md).

const SCREENSHOTS = "test-results/browser-login";

const chromium = createSharedChromium();
let server: TestServer | undefined;
let page: Page | undefined;

afterAll(() => chromium.close());

let steps = 0;
beforeEach(() => {
  steps = 0;
});

afterEach(async () => {
  await page?.close();
  await server?.close();
  page = undefined;
  server = undefined;
});

async function openLoginPage(env: Record<string, string> = {}) {
  // The test looks the email up afterwards, as a trusted service would.
  const started = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN, ...env });
  server = started;
  const bundle = await fetch(`${started.baseUrl}/login.js`);
  expect(bundle.status, "the page is not built: run `npm run build:web`").toBe(200);
  const opened = await (await chromium.browser()).newPage();
  page = opened;
  opened.setDefaultTimeout(10_000);
  await opened.goto(started.baseUrl);
  return { server: started, page: opened };
}

/**
 * One step as a person sees it: takes a screenshot (kept as a test artifact), then asserts which
 * of the two forms are on screen.
 */
async function step(on: Page, name: string, shown: { email: boolean; code: boolean }) {
  const test = (expect.getState().currentTestName ?? "test").replace(/[^a-z0-9]+/gi, "-");
  const folder = `${SCREENSHOTS}/${test}`;
  if (steps === 0) {
    await rm(folder, { recursive: true, force: true });
  }
  const path = `${folder}/${String(++steps).padStart(2, "0")}-${name}.png`;
  await on.screenshot({ path, fullPage: true });
  expect(
    {
      email: await on.getByLabel("Email address").isVisible(),
      code: await on.getByLabel("Code from the message").isVisible(),
    },
    `what is on screen at "${name}" (see ${path})`,
  ).toEqual(shown);
}

/** Waits until the live region `role` says `text`, then returns all it says. */
async function announced(on: Page, role: "status" | "alert", text: string) {
  const region = on.getByRole(role);
  await region.filter({ hasText: text }).waitFor();
  return region.textContent();
}

async function sendCode(on: Page, email: string) {
  await on.getByLabel("Email address").fill(email);
  await on.getByRole("button", { name: "Send code" }).click();
}

async function submitCode(on: Page, code: string) {
  await on.getByLabel("Code from the message").fill(code);
  await on.getByRole("button", { name: "Verify" }).click();
}

/** `iso` as the page shows times: in the browser's own locale and time zone. */
function localTime(on: Page, iso: string) {
  return on.evaluate(
    (ms) =>
      new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(
        new Date(ms),
      ),
    Date.parse(iso),
  );
}

/**
 * Which of the page's forms are hidden (their `hidden` property: what the page means to show,
 * whatever the stylesheet does with it).
 */
function formsHidden(on: Page) {
  // A string, evaluated in the page: this file is type-checked without the DOM library.
  return on.evaluate<Record<string, boolean>>(`({
    request: document.getElementById("request-form").hidden,
    verify: document.getElementById("verify-form").hidden,
    session: document.getElementById("session-form").hidden,
  })`);
}

/** The session token the page keeps, or null. */
function keptToken(on: Page) {
  return on.evaluate<string | null>(`sessionStorage.getItem("otp-auth.session-token")`);
}

describe("the login page in a browser", () => {
  it("signs a person in with the code that was sent to them", async () => {
    const { server, page } = await openLoginPage();
    await step(page, "opened", { email: true, code: false });
    await sendCode(page, "ann@example.com");
    expect(await announced(page, "status", "We sent")).toBe(
      "We sent a 6-digit code to ann@example.com. It expires in 5 minutes.",
    );
    await step(page, "code-sent", { email: true, code: true });

    await submitCode(page, server.sender.lastCodeFor("ann@example.com"));
    expect(await announced(page, "status", "Signed in")).toBe(
      `Signed in as ann@example.com until ${await localTime(page, "2026-01-02T00:00:00Z")}.`,
    );
    expect(await page.getByRole("alert").textContent()).toBe("");
    await step(page, "signed-in", { email: false, code: false });
    const status = await createAuthClient("grpc", server.baseUrl).getStatus(
      { email: "ann@example.com" },
      asService,
    );
    expect(status.authenticated).toBe(true);
  });

  it("says how long to wait when the email has asked for too many codes", async () => {
    const { page } = await openLoginPage({ OTP_REQUEST_LIMIT: "1/1h" });
    await step(page, "opened", { email: true, code: false });
    await sendCode(page, "bob@example.com");
    await announced(page, "status", "We sent");
    await step(page, "code-sent", { email: true, code: true });

    await page.getByRole("button", { name: "Send code" }).click();
    expect(await announced(page, "alert", "Too many")).toBe(
      "Too many codes were requested for this email — try again in 60 minutes.",
    );
    await step(page, "limit-reached", { email: true, code: true });
  });

  it("counts down wrong codes for its own request's code, then asks for a new code", async () => {
    const { server, page } = await openLoginPage();
    await step(page, "opened", { email: true, code: false });
    await sendCode(page, "cy@example.com");
    await announced(page, "status", "We sent");
    await step(page, "code-sent", { email: true, code: true });
    const wrong = server.sender.lastCodeFor("cy@example.com") === "000000" ? "111111" : "000000";

    await submitCode(page, wrong);
    expect(await announced(page, "alert", "2 attempts")).toBe(
      "That code is not right — 2 attempts left.",
    );
    await step(page, "first-wrong-code", { email: true, code: true });
    await submitCode(page, wrong);
    expect(await announced(page, "alert", "1 attempt")).toBe(
      "That code is not right — 1 attempt left.",
    );
    await step(page, "second-wrong-code", { email: true, code: true });
    await submitCode(page, wrong);
    expect(await announced(page, "alert", "Too many")).toBe(
      "Too many wrong codes — send a new code.",
    );
    await step(page, "locked", { email: true, code: true });
    // A new code is served at once, and judged on its own (the page empties the code field once
    // the new request is answered).
    await sendCode(page, "cy@example.com");
    await expect.poll(() => page.getByLabel("Code from the message").inputValue()).toBe("");
    await submitCode(page, server.sender.lastCodeFor("cy@example.com"));
    expect(await announced(page, "status", "Signed in")).toContain("Signed in as cy@example.com");
  });

  it("explains a malformed email instead of sending it", async () => {
    const { server, page } = await openLoginPage();
    await step(page, "opened", { email: true, code: false });
    await sendCode(page, "not an email");
    expect(await announced(page, "alert", "email")).toBe("Enter a valid email address.");
    await step(page, "refused", { email: true, code: false });
    expect(server.sender.sent).toHaveLength(0);
  });

  it("keeps the session through a reload, and signs out for good", async () => {
    const { server, page } = await openLoginPage();
    await sendCode(page, "dee@example.com");
    await announced(page, "status", "We sent");
    server.clock.advance(60_000);
    await submitCode(page, server.sender.lastCodeFor("dee@example.com"));
    const signedIn = `Signed in as dee@example.com until ${await localTime(page, "2026-01-02T00:01:00Z")}.`;
    expect(await announced(page, "status", "Signed in")).toBe(signedIn);
    const sessionToken = await keptToken(page);
    expect(sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The page asks the service again after a reload; the token never went into a URL.
    await page.reload();
    expect(await announced(page, "status", "Signed in")).toBe(signedIn);
    expect(await formsHidden(page)).toEqual({ request: true, verify: true, session: false });
    expect(page.url()).not.toContain(sessionToken as string);

    await page.getByRole("button", { name: "Sign out" }).click();
    expect(await announced(page, "status", "Signed out")).toBe("Signed out.");
    expect(await keptToken(page)).toBeNull();
    expect(await formsHidden(page)).toEqual({ request: false, verify: true, session: true });
    const status = await createAuthClient("grpc", server.baseUrl).getStatus({
      sessionToken: sessionToken as string,
    });
    expect(status.authenticated).toBe(false);

    await page.reload();
    await page.getByLabel("Email address").waitFor();
    expect(await formsHidden(page)).toEqual({ request: false, verify: true, session: true });
  });

  it("lists where the person is signed in, and ends the session on another device", async () => {
    const { server, page } = await openLoginPage();
    // Signed in on a laptop first, with a client of its own.
    const laptopClient = createAuthClient("connect-json-h1", server.baseUrl);
    const laptopHeaders = { headers: { "user-agent": "Laptop/1.0" } };
    await laptopClient.requestOtp({ email: "fay@example.com" }, laptopHeaders);
    const laptop = await laptopClient.verifyOtp(
      { email: "fay@example.com", otp: server.sender.lastCodeFor("fay@example.com") },
      laptopHeaders,
    );
    server.clock.advance(60_000);

    await sendCode(page, "fay@example.com");
    await announced(page, "status", "We sent");
    await submitCode(page, server.sender.lastCodeFor("fay@example.com"));
    await announced(page, "status", "Signed in");
    const devices = page.getByRole("region", { name: "Where you are signed in" });
    await devices.getByRole("listitem").nth(1).waitFor();
    await step(page, "devices-listed", { email: false, code: false });
    const items = devices.getByRole("listitem");
    expect(await items.count()).toBe(2);
    // Newest first: this browser, then the laptop; only the laptop can be ended from here.
    const here = (await items.nth(0).textContent()) ?? "";
    expect(here).toContain("HeadlessChrome");
    expect(here).toContain("(this device)");
    expect(here).toContain("Network 127.0.0.0/24");
    expect(await items.nth(0).getByRole("button").count()).toBe(0);
    const there = (await items.nth(1).textContent()) ?? "";
    expect(there).toContain("Laptop/1.0");
    expect(there).not.toContain("(this device)");
    expect(there).toContain(
      `signed in ${await localTime(page, "2026-01-01T00:00:00Z")} · last seen ${await localTime(page, "2026-01-01T00:00:00Z")}`,
    );

    await devices.getByRole("button", { name: "End the session on Laptop/1.0" }).click();
    expect(await announced(page, "status", "Ended")).toBe("Ended the session on Laptop/1.0.");
    await step(page, "laptop-ended", { email: false, code: false });
    expect(await items.count()).toBe(1);
    expect(await items.nth(0).textContent()).toContain("(this device)");
    const status = await laptopClient.getStatus({ sessionToken: laptop.sessionToken });
    expect(status.authenticated).toBe(false);

    // Signing out here hides the list with the rest of the session.
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await announced(page, "status", "Signed out");
    await step(page, "signed-out", { email: true, code: false });
    expect(await devices.isVisible()).toBe(false);
  });

  it("forgets a kept session the service no longer answers for", async () => {
    const { server, page } = await openLoginPage();
    await sendCode(page, "eve@example.com");
    await announced(page, "status", "We sent");
    await submitCode(page, server.sender.lastCodeFor("eve@example.com"));
    await announced(page, "status", "Signed in");
    const sessionToken = (await keptToken(page)) as string;
    await createAuthClient("grpc", server.baseUrl).signOut({ sessionToken });

    await page.reload();
    await page.getByLabel("Email address").waitFor();
    await page.waitForFunction(`sessionStorage.getItem("otp-auth.session-token") === null`);
    expect(await page.getByRole("status").textContent()).toBe("");
  });
});
