import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { ConfigError } from "../../src/config/parse-values.js";
import { loadSenderConfig } from "../../src/config/sender-config.js";
import { createSender } from "../../src/delivery/create-sender.js";
import { defaultMailTemplates } from "../../src/delivery/mail-templates.js";

const SECRET = "s".repeat(32);
const SMTP = { OTP_SENDER: "smtp", SMTP_URL: "smtp://mail.example.com", OTP_MAIL_FROM: "a@b.co" };
const WEBHOOK = {
  OTP_SENDER: "webhook",
  OTP_WEBHOOK_URL: "https://sms.example.com/otp",
  OTP_WEBHOOK_SECRET: SECRET,
};

const dir = mkdtempSync(join(tmpdir(), "otp-sender-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorFor(env: Record<string, string>): ConfigError {
  try {
    loadSenderConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("sender configuration", () => {
  it("prints codes to the console unless told otherwise", () => {
    expect(loadSenderConfig({})).toEqual({ kind: "console" });
    expect(loadConfig({}).sender).toEqual({ kind: "console" });
  });

  it("discards codes only when told to, for load tests, and reads no other variable", async () => {
    expect(loadSenderConfig({ OTP_SENDER: " discard ", OTP_WEBHOOK_URL: "nonsense" })).toEqual({
      kind: "discard",
    });
    const sender = createSender({ kind: "discard" });
    await expect(
      sender.send({ otpId: "id", email: "a@b.co", purpose: "login", code: "123456", expiresAt: 0 }),
    ).resolves.toBeUndefined();
  });

  it("reads SMTP with the default templates and a 10 second timeout", () => {
    expect(loadSenderConfig(SMTP)).toEqual({
      kind: "smtp",
      url: "smtp://mail.example.com",
      from: "a@b.co",
      templates: defaultMailTemplates,
      timeoutMs: 10_000,
    });
  });

  it("reads SMTP with login, TLS options, a named sender, templates and a timeout", () => {
    const text = join(dir, "code.txt");
    writeFileSync(text, "Code: {{code}}");
    const config = loadSenderConfig({
      OTP_SENDER: "smtp",
      SMTP_URL: "smtps://user:p%40ss@mail.example.com:465?tls.servername=mx.example.com",
      OTP_MAIL_FROM: "Example <codes@example.com>",
      OTP_MAIL_SUBJECT: "{{code}} is your code",
      OTP_MAIL_TEXT_TEMPLATE: text,
      OTP_SEND_TIMEOUT: "3s",
    });
    expect(config).toMatchObject({
      url: "smtps://user:p%40ss@mail.example.com:465?tls.servername=mx.example.com",
      from: "Example <codes@example.com>",
      templates: { subject: "{{code}} is your code", text: "Code: {{code}}" },
      timeoutMs: 3_000,
    });
  });

  it("reads the webhook", () => {
    expect(loadSenderConfig({ ...WEBHOOK, OTP_SEND_TIMEOUT: "500ms" })).toEqual({
      kind: "webhook",
      url: "https://sms.example.com/otp",
      secret: SECRET,
      timeoutMs: 500,
    });
  });

  it("reads only the chosen sender's variables", () => {
    expect(loadSenderConfig({ SMTP_URL: "nonsense", OTP_WEBHOOK_SECRET: "short" })).toEqual({
      kind: "console",
    });
  });

  it.each([
    [{ OTP_SENDER: "sms" }, "OTP_SENDER", /expected console, smtp, webhook or discard/],
    [{ ...SMTP, SMTP_URL: "" }, "SMTP_URL", /required when OTP_SENDER=smtp/],
    [{ ...SMTP, SMTP_URL: "http://mail.example.com" }, "SMTP_URL", /expected smtp:\/\//],
    [{ ...SMTP, SMTP_URL: "smtp://" }, "SMTP_URL", /expected smtp:\/\//],
    [
      { ...SMTP, SMTP_URL: "smtp://mail.example.com?logger=true" },
      "SMTP_URL",
      /unknown option logger/,
    ],
    [{ ...SMTP, OTP_MAIL_FROM: "" }, "OTP_MAIL_FROM", /required/],
    [{ ...SMTP, OTP_MAIL_FROM: "codes" }, "OTP_MAIL_FROM", /expected one address/],
    [{ ...SMTP, OTP_MAIL_FROM: "a@b.co, c@d.co" }, "OTP_MAIL_FROM", /expected one address/],
    [{ ...SMTP, OTP_MAIL_SUBJECT: "{{cod}}" }, "OTP_MAIL_SUBJECT", /unknown placeholder/],
    [{ ...SMTP, OTP_MAIL_TEXT_TEMPLATE: "/nonexistent/t.txt" }, "OTP_MAIL_TEXT_TEMPLATE", /ENOENT/],
    [
      { ...SMTP, OTP_MAIL_HTML_TEMPLATE: "/nonexistent/t.html" },
      "OTP_MAIL_HTML_TEMPLATE",
      /ENOENT/,
    ],
    [{ ...SMTP, OTP_SEND_TIMEOUT: "10" }, "OTP_SEND_TIMEOUT", /duration/],
    [{ ...WEBHOOK, OTP_WEBHOOK_URL: "" }, "OTP_WEBHOOK_URL", /required when OTP_SENDER=webhook/],
    [
      { ...WEBHOOK, OTP_WEBHOOK_URL: "ftp://x.example.com" },
      "OTP_WEBHOOK_URL",
      /http:\/\/ or https/,
    ],
    [
      { ...WEBHOOK, OTP_WEBHOOK_URL: "https://u:p@x.example.com/" },
      "OTP_WEBHOOK_URL",
      /without user/,
    ],
    [{ ...WEBHOOK, OTP_WEBHOOK_SECRET: "" }, "OTP_WEBHOOK_SECRET", /required/],
    [{ ...WEBHOOK, OTP_WEBHOOK_SECRET: "s".repeat(31) }, "OTP_WEBHOOK_SECRET", /at least 32/],
    [{ ...WEBHOOK, OTP_SEND_TIMEOUT: "0s" }, "OTP_SEND_TIMEOUT", /greater than zero/],
  ])("stops on %o naming %s", (env, variable, accepts) => {
    const error = errorFor(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^${variable}=`));
    expect(error.message).toMatch(accepts);
  });

  it("stops start-up through loadConfig as well", () => {
    expect(() => loadConfig({ OTP_SENDER: "smtp" })).toThrow(/^SMTP_URL=/);
  });

  it("never repeats the webhook secret or a URL password in a message", () => {
    expect(errorFor({ ...WEBHOOK, OTP_WEBHOOK_SECRET: "hunter2-short" }).message).not.toContain(
      "hunter2",
    );
    expect(
      errorFor({ ...SMTP, SMTP_URL: "smtp://user:hunter2@mail.example.com?debug=true" }).message,
    ).not.toContain("hunter2");
    expect(
      errorFor({ ...SMTP, SMTP_URL: "smtp://user:hunter2@[not a host" }).message,
    ).not.toContain("hunter2");
    expect(
      errorFor({ ...WEBHOOK, OTP_WEBHOOK_URL: "https://u:hunter2@x.example.com/" }).message,
    ).not.toContain("hunter2");
  });
});
