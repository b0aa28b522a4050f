import { afterEach, describe, expect, it } from "vitest";
import { createSender, type SenderConfig } from "../../src/delivery/create-sender.js";
import { defaultMailTemplates } from "../../src/delivery/mail-templates.js";
import type { OtpDelivery } from "../../src/domain/ports.js";
import { createFakeClock } from "../support/fakes.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

const SECRET = "webhook-secret-of-at-least-32-characters";
const clock = createFakeClock();
const delivery: OtpDelivery = {
  otpId: "otp-7",
  email: "ada@example.com",
  purpose: "login",
  code: "493817",
  expiresAt: clock.now() + 60_000,
};

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

describe("the configured sender", () => {
  it.each<[string, SenderConfig, boolean]>([
    ["console", { kind: "console" }, false],
    ["discard", { kind: "discard" }, false],
    [
      "smtp",
      {
        kind: "smtp",
        url: "smtp://127.0.0.1:2525",
        from: "codes@example.com",
        templates: defaultMailTemplates,
        timeoutMs: 1_000,
      },
      false,
    ],
    [
      "webhook",
      { kind: "webhook", url: "http://127.0.0.1:9/otp", secret: SECRET, timeoutMs: 1_000 },
      true,
    ],
  ])(
    "%s: reaches accounts named by external id only if it is the webhook",
    async (_name, config, reaches) => {
      const sender = createSender(config, { clock });
      cleanups.push(() => sender.close?.());
      expect(sender.sendToExternalId !== undefined).toBe(reaches);
    },
  );

  it("signs with the service's clock", async () => {
    const hook = await startWebhookReceiver({ secret: SECRET, now: clock.now });
    cleanups.push(() => hook.close());
    const sender = createSender(
      { kind: "webhook", url: hook.url, secret: SECRET, timeoutMs: 5_000 },
      { clock },
    );
    await sender.send(delivery);
    const received = await hook.nextDelivery();
    expect(received.headers["otp-timestamp"]).toBe(String(clock.now() / 1000));
    expect(received.verified).toBe(true);
  });

  it("fails a delivery with a reason that does not contain the code", async () => {
    const hook = await startWebhookReceiver({ secret: SECRET, now: clock.now });
    cleanups.push(() => hook.close());
    hook.answer({ kind: "status", status: 503 });
    const sender = createSender(
      { kind: "webhook", url: hook.url, secret: SECRET, timeoutMs: 5_000 },
      { clock },
    );

    const error = await sender.send(delivery).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).toMatch(/answered HTTP 503/);
    expect(error?.message).not.toContain(delivery.code);
  });
});
