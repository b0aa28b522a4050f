import addressparser from "nodemailer/lib/addressparser";
import type { SenderConfig } from "../delivery/create-sender.js";
import {
  loadMailTemplates,
  type MailTemplates,
  TemplateError,
  type TemplateSource,
} from "../delivery/mail-templates.js";
import { type Env, read } from "./env.js";
import { ConfigError, parseDuration } from "./parse-values.js";

const DEFAULT_SEND_TIMEOUT_MS = 10_000;
const MIN_WEBHOOK_SECRET_LENGTH = 32;
/**
 * Nodemailer options SMTP_URL may set. Nodemailer would take any option from the query; these are
 * the ones about reaching the server. Others (`logger`, `debug`) could print the code.
 */
const SMTP_URL_OPTIONS = ["requireTLS", "name", "tls.rejectUnauthorized", "tls.servername"];
const TEMPLATE_VARIABLES: Record<TemplateSource, string> = {
  subject: "OTP_MAIL_SUBJECT",
  textFile: "OTP_MAIL_TEXT_TEMPLATE",
  htmlFile: "OTP_MAIL_HTML_TEMPLATE",
};

/**
 * Reads OTP_SENDER (console, smtp, webhook or discard; console by default) and the variables of the chosen
 * sender (see docs/configuration.md "Delivering codes"); template files are read now. Unset or empty variables
 * take their defaults. Throws a ConfigError naming the first variable that is missing or unusable;
 * secrets and URL passwords are never repeated in its message.
 */
export function loadSenderConfig(env: Env): SenderConfig {
  const required = (name: string, sender: string): string => {
    const value = read(env, name);
    if (value === undefined) {
      throw new ConfigError(name, "", `required when OTP_SENDER=${sender}`);
    }
    return value;
  };
  const timeoutMs = () => {
    const value = read(env, "OTP_SEND_TIMEOUT");
    return value === undefined ? DEFAULT_SEND_TIMEOUT_MS : parseDuration("OTP_SEND_TIMEOUT", value);
  };

  const kind = read(env, "OTP_SENDER")?.trim() ?? "console";
  switch (kind) {
    case "console":
    case "discard":
      return { kind };
    case "smtp":
      return {
        kind,
        url: parseSmtpUrl(required("SMTP_URL", kind)),
        from: parseFrom(required("OTP_MAIL_FROM", kind)),
        templates: readTemplates({
          subject: read(env, "OTP_MAIL_SUBJECT"),
          textFile: read(env, "OTP_MAIL_TEXT_TEMPLATE")?.trim(),
          htmlFile: read(env, "OTP_MAIL_HTML_TEMPLATE")?.trim(),
        }),
        timeoutMs: timeoutMs(),
      };
    case "webhook":
      return {
        kind,
        url: parseWebhookUrl(required("OTP_WEBHOOK_URL", kind)),
        secret: parseSecret(required("OTP_WEBHOOK_SECRET", kind)),
        timeoutMs: timeoutMs(),
      };
    default:
      throw new ConfigError("OTP_SENDER", kind, "expected console, smtp, webhook or discard");
  }
}

function parseSmtpUrl(value: string): string {
  const url = parseUrl(value.trim());
  const accepts = `expected smtp://[user:password@]host[:port] or smtps://…, optionally with ${SMTP_URL_OPTIONS.map((name) => `${name}=…`).join(", ")}`;
  if (url === null || (url.protocol !== "smtp:" && url.protocol !== "smtps:") || !url.hostname) {
    throw new ConfigError("SMTP_URL", redact(value), accepts);
  }
  const unknown = [...url.searchParams.keys()].find((name) => !SMTP_URL_OPTIONS.includes(name));
  if (unknown !== undefined) {
    throw new ConfigError("SMTP_URL", redact(value), `unknown option ${unknown}; ${accepts}`);
  }
  return url.href;
}

function parseFrom(value: string): string {
  const addresses = addressparser(value.trim(), { flatten: true });
  const [first] = addresses;
  if (addresses.length !== 1 || !first?.address?.includes("@")) {
    throw new ConfigError(
      "OTP_MAIL_FROM",
      value,
      "expected one address, like codes@example.com or Example <codes@example.com>",
    );
  }
  return value.trim();
}

function readTemplates(overrides: {
  subject: string | undefined;
  textFile: string | undefined;
  htmlFile: string | undefined;
}): MailTemplates {
  try {
    return loadMailTemplates(overrides);
  } catch (error) {
    if (error instanceof TemplateError) {
      throw new ConfigError(
        TEMPLATE_VARIABLES[error.source],
        overrides[error.source] ?? "",
        error.message,
      );
    }
    throw error;
  }
}

function parseWebhookUrl(value: string): string {
  const url = parseUrl(value.trim());
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
    throw new ConfigError(
      "OTP_WEBHOOK_URL",
      redact(value),
      "expected an http:// or https:// URL, like https://sms.example.com/otp",
    );
  }
  if (url.username !== "" || url.password !== "") {
    // fetch refuses such URLs; the signature is what authenticates the service to the receiver.
    throw new ConfigError(
      "OTP_WEBHOOK_URL",
      redact(value),
      "expected a URL without user:password@ (the receiver verifies the signature instead)",
    );
  }
  return url.href;
}

function parseSecret(value: string): string {
  if (value.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new ConfigError(
      "OTP_WEBHOOK_SECRET",
      "(hidden)",
      `expected a secret of at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`,
    );
  }
  return value;
}

function parseUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** The value with any URL password replaced, for error messages. */
function redact(value: string): string {
  const url = parseUrl(value.trim());
  if (url === null || url.password === "") {
    // Unparsable: hide whatever sits between "://" and "@", in case it is a password.
    return value.replace(/\/\/[^/@]*@/, "//(hidden)@");
  }
  url.password = "(hidden)";
  return url.href;
}
