import { afterEach, describe, expect, it } from "vitest";
import { defaultMailTemplates } from "../../src/delivery/mail-templates.js";
import { createSmtpSender, type SmtpSenderOptions } from "../../src/delivery/smtp-sender.js";
import type { OtpDelivery } from "../../src/domain/ports.js";
import { createFakeClock } from "../support/fakes.js";
import { codeInMail, startSmtpReceiver } from "../support/smtp-receiver.js";

const clock = createFakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
const FROM = "Example <codes@example.com>";

function delivery(overrides: Partial<OtpDelivery> = {}): OtpDelivery {
  return {
    otpId: "otp-1",
    email: "ada@example.com",
    purpose: "login",
    code: "493817",
    expiresAt: clock.now() + 5 * 60_000,
    ...overrides,
  };
}

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function receiver(options: Parameters<typeof startSmtpReceiver>[0] = {}) {
  const started = await startSmtpReceiver(options);
  cleanups.push(() => started.close());
  return started;
}

function sender(options: Partial<SmtpSenderOptions> & { url: string }) {
  const created = createSmtpSender({
    from: FROM,
    templates: defaultMailTemplates,
    timeoutMs: 5_000,
    clock,
    ...options,
  });
  cleanups.push(() => created.close());
  return created;
}

/** The rejection of `call`, which must reject. */
async function failure(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the send to fail");
}

describe("the SMTP sender", () => {
  it("mails the code, its purpose and its expiry as subject, text and HTML", async () => {
    const smtp = await receiver();
    await sender({ url: smtp.url }).send(delivery({ purpose: "reset" }));

    const received = await smtp.nextMail();
    expect(received.mailFrom).toBe("codes@example.com");
    expect(received.rcptTo).toEqual(["ada@example.com"]);
    expect(received.mail.from?.text).toBe('"Example" <codes@example.com>');
    expect(received.mail.subject).toBe("Your reset code");
    expect(codeInMail(received)).toBe("493817");
    expect(received.mail.text).toContain("expires in 5 minutes (2026-01-01T12:05:00.000Z)");
    expect(received.mail.html).toContain(">493817</p>");
    expect(received.mail.html).toContain("expires in 5 minutes");
  });

  it("reuses one connection for many codes", async () => {
    const smtp = await receiver();
    const mailer = sender({ url: smtp.url });
    for (const code of ["111111", "222222", "333333"]) {
      await mailer.send(delivery({ code }));
    }
    expect(smtp.received.map(codeInMail)).toEqual(["111111", "222222", "333333"]);
    expect(smtp.connections()).toBe(1);
  });

  it("sends to exactly the one mailbox that asked, even if its address holds a comma", async () => {
    const smtp = await receiver();
    await sender({ url: smtp.url }).send(delivery({ email: "ada,eve@example.com" }));
    // One recipient: the same mailbox, its local part quoted as SMTP requires.
    expect((await smtp.nextMail()).rcptTo).toEqual(['"ada,eve"@example.com']);
  });

  it("fails when the server refuses the recipient, naming the reply but not the code", async () => {
    const smtp = await receiver();
    smtp.answer({ kind: "refuse" });
    const error = await failure(sender({ url: smtp.url }).send(delivery()));
    expect(error.message).toMatch(/did not accept the message: .*550/);
    expect(error.message).not.toContain("493817");
    expect(smtp.received).toHaveLength(0);
  });

  it("fails when nothing listens at the address", async () => {
    const smtp = await startSmtpReceiver();
    await smtp.close();
    const error = await failure(sender({ url: smtp.url }).send(delivery()));
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it("fails after the send timeout when the server holds its reply, though the message reached it", async () => {
    const smtp = await receiver();
    smtp.answer({ kind: "hold" });
    const error = await failure(sender({ url: smtp.url, timeoutMs: 300 }).send(delivery()));
    expect(error.message).toMatch(/within 300ms; it may still deliver it/);
    // The server has the message: this is the case where a failed send may still arrive.
    expect(codeInMail(await smtp.nextMail())).toBe("493817");
    smtp.release();
  });

  it("delivers through a slow server that replies within the timeout", async () => {
    const smtp = await receiver();
    smtp.answer({ kind: "slow", ms: 300 });
    await sender({ url: smtp.url, timeoutMs: 5_000 }).send(delivery());
    expect(codeInMail(await smtp.nextMail())).toBe("493817");
  });

  describe("TLS, as the URL asks", () => {
    // The receivers present a self-signed certificate.
    const selfSigned = "tls.rejectUnauthorized=false";

    it("smtps:// speaks TLS from the first byte", async () => {
      const smtp = await receiver({ secure: true });
      await sender({ url: `${smtp.url}?${selfSigned}` }).send(delivery());
      expect((await smtp.nextMail()).secure).toBe(true);
    });

    it("smtp:// upgrades with STARTTLS when the server offers it, then logs in", async () => {
      const smtp = await receiver({ startTls: true });
      await sender({ url: `smtp://mailer:s3cret@127.0.0.1:${smtp.port}?${selfSigned}` }).send(
        delivery(),
      );
      const received = await smtp.nextMail();
      expect(received.secure).toBe(true);
      expect(received.user).toBe("mailer");
    });

    it("smtp:// with requireTLS=true sends nothing to a server without STARTTLS", async () => {
      const smtp = await receiver();
      const error = await failure(sender({ url: `${smtp.url}?requireTLS=true` }).send(delivery()));
      expect(error.message).toMatch(/STARTTLS/);
      expect(smtp.received).toHaveLength(0);
    });

    it("smtps:// refuses a certificate it cannot verify", async () => {
      const smtp = await receiver({ secure: true });
      const error = await failure(sender({ url: smtp.url }).send(delivery()));
      expect(error.message).toMatch(/certificate/i);
      expect(smtp.received).toHaveLength(0);
    });
  });
});
