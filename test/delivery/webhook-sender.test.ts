import { afterEach, describe, expect, it } from "vitest";
import {
  createWebhookSender,
  type WebhookSenderOptions,
} from "../../src/delivery/webhook-sender.js";
import type { OtpDelivery } from "../../src/domain/ports.js";
import { createFakeClock } from "../support/fakes.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

const SECRET = "webhook-secret-of-at-least-32-characters";
const clock = createFakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));

const delivery: OtpDelivery = {
  otpId: "otp-1",
  email: "ada@example.com",
  purpose: "login",
  code: "493817",
  expiresAt: clock.now() + 5 * 60_000,
};

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** A receiver that checks signatures with SECRET against the fake clock. */
async function receiver() {
  const started = await startWebhookReceiver({ secret: SECRET, now: clock.now });
  cleanups.push(() => started.close());
  return started;
}

function sender(options: Partial<WebhookSenderOptions> & { url: string }) {
  return createWebhookSender({ secret: SECRET, timeoutMs: 5_000, clock, ...options });
}

async function failure(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the send to fail");
}

describe("the webhook sender", () => {
  it("POSTs the code as JSON, signed so that the receiver can verify it", async () => {
    const hook = await receiver();
    await sender({ url: hook.url }).send(delivery);

    const received = await hook.nextDelivery();
    expect(received.verified).toBe(true);
    expect(received.path).toBe("/otp");
    expect(received.headers["content-type"]).toBe("application/json");
    expect(received.headers["otp-timestamp"]).toBe(String(clock.now() / 1000));
    expect(received.headers["otp-signature"]).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(received.json).toEqual({
      email: "ada@example.com",
      code: "493817",
      purpose: "login",
      expiresAt: "2026-01-01T12:05:00.000Z",
      otpId: "otp-1",
    });
  });

  it("POSTs an external id's code with externalId in place of email, signed alike", async () => {
    const hook = await receiver();
    const { email: _email, ...rest } = delivery;
    const webhook = sender({ url: hook.url });
    expect(webhook.sendToExternalId).toBeTypeOf("function");
    await webhook.sendToExternalId?.({ ...rest, externalId: "user-42" });

    const received = await hook.nextDelivery();
    expect(received.verified).toBe(true);
    expect(JSON.parse(received.body)).toEqual({
      externalId: "user-42",
      code: "493817",
      purpose: "login",
      expiresAt: "2026-01-01T12:05:00.000Z",
      otpId: "otp-1",
    });
  });

  it("is refused by a receiver that holds another secret", async () => {
    const hook = await receiver();
    const error = await failure(
      sender({ url: hook.url, secret: "another-secret-of-at-least-32-chars!" }).send(delivery),
    );
    expect(error.message).toMatch(/answered HTTP 401/);
    expect(hook.received[0]?.verified).toBe(false);
  });

  it("fails on a 500, naming the status but not the code", async () => {
    const hook = await receiver();
    hook.answer({ kind: "status", status: 500 });
    const error = await failure(sender({ url: hook.url }).send(delivery));
    expect(error.message).toBe(`the webhook http://127.0.0.1:${hook.port}/otp answered HTTP 500`);
    expect(error.message).not.toContain("493817");
  });

  it("does not follow a redirect: it fails, and the code goes nowhere else", async () => {
    const hook = await receiver();
    hook.answer({ kind: "status", status: 307, location: "/elsewhere" });
    const error = await failure(sender({ url: hook.url }).send(delivery));
    expect(error.message).toMatch(/answered HTTP 307/);
    expect(hook.received.map((request) => request.path)).toEqual(["/otp"]);
  });

  it("fails when nothing listens at the address", async () => {
    const hook = await startWebhookReceiver({ secret: SECRET });
    await hook.close();
    const error = await failure(sender({ url: hook.url }).send(delivery));
    expect(error.message).toMatch(/could not be reached: fetch failed: .*ECONNREFUSED/);
  });

  it("fails after the send timeout when the receiver holds its answer, though it has the code", async () => {
    const hook = await receiver();
    hook.answer({ kind: "hold" });
    const error = await failure(sender({ url: hook.url, timeoutMs: 300 }).send(delivery));
    expect(error.message).toMatch(/did not answer within 300ms; it may have the code/);
    expect((await hook.nextDelivery()).json.code).toBe("493817");
    hook.release();
  });

  it("delivers to a slow receiver that answers within the timeout", async () => {
    const hook = await receiver();
    hook.answer({ kind: "slow", ms: 300 });
    await sender({ url: hook.url, timeoutMs: 5_000 }).send(delivery);
    expect((await hook.nextDelivery()).verified).toBe(true);
  });

  it("keeps a token in the URL's query out of its errors", async () => {
    const hook = await receiver();
    hook.answer({ kind: "status", status: 503 });
    const error = await failure(
      sender({ url: `http://127.0.0.1:${hook.port}/otp?token=hunter2` }).send(delivery),
    );
    expect(error.message).toMatch(/answered HTTP 503/);
    expect(error.message).not.toContain("hunter2");
  });
});
