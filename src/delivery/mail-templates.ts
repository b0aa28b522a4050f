import { readFileSync } from "node:fs";
import type { OtpDelivery } from "../domain/ports.js";

/** The three parts of a code mail, as templates with `{{placeholder}}`s. */
export interface MailTemplates {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** A rendered code mail, ready to hand to the mail transport. */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** The placeholders a template may use; see docs/configuration.md. */
export const MAIL_PLACEHOLDERS = [
  "code",
  "purpose",
  "email",
  "expiresAt",
  "expiresInMinutes",
  "expiresIn",
] as const;
type Placeholder = (typeof MAIL_PLACEHOLDERS)[number];

/** Where a template came from, so that a refusal can name what to fix. */
export type TemplateSource = "subject" | "textFile" | "htmlFile";

/** A template that cannot be used: unreadable, or with placeholders that mean nothing. */
export class TemplateError extends Error {
  override readonly name = "TemplateError";

  constructor(
    readonly source: TemplateSource,
    message: string,
  ) {
    super(message);
  }
}

export const defaultMailTemplates: MailTemplates = {
  subject: "Your {{purpose}} code",
  text: `Your {{purpose}} code is {{code}}

It expires in {{expiresIn}} ({{expiresAt}}) and works once.
If you did not ask for it, ignore this message.
`,
  html: `<!doctype html>
<html>
  <body style="font-family: sans-serif">
    <p>Your {{purpose}} code is</p>
    <p style="font-size: 28px; font-weight: bold; letter-spacing: 4px">{{code}}</p>
    <p>It expires in {{expiresIn}} ({{expiresAt}}) and works once.<br>
    If you did not ask for it, ignore this message.</p>
  </body>
</html>
`,
};

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

/**
 * The default templates with the given overrides: `subject` as written, `textFile` and `htmlFile`
 * read from disk (UTF-8) now. Throws a TemplateError naming the source when a file cannot be read,
 * a template uses an unknown placeholder, a body lacks `{{code}}`, or the subject spans lines.
 */
export function loadMailTemplates(
  overrides: { subject?: string; textFile?: string; htmlFile?: string } = {},
): MailTemplates {
  const templates = {
    subject: overrides.subject ?? defaultMailTemplates.subject,
    text:
      overrides.textFile === undefined
        ? defaultMailTemplates.text
        : readTemplate("textFile", overrides.textFile),
    html:
      overrides.htmlFile === undefined
        ? defaultMailTemplates.html
        : readTemplate("htmlFile", overrides.htmlFile),
  };
  checkTemplate("subject", templates.subject, false);
  if (/[\r\n]/.test(templates.subject)) {
    throw new TemplateError("subject", "expected a subject on one line");
  }
  checkTemplate("textFile", templates.text, true);
  checkTemplate("htmlFile", templates.html, true);
  return templates;
}

/**
 * Fills the templates for one delivery at `now` (milliseconds). Values are inserted as they are in
 * the subject and text, and HTML-escaped in the HTML body.
 */
export function renderMail(
  templates: MailTemplates,
  delivery: OtpDelivery,
  now: number,
): RenderedMail {
  // To the nearest second: the milliseconds between issuing and sending are not worth a word.
  const seconds = Math.max(0, Math.round((delivery.expiresAt - now) / 1000));
  const values: Record<Placeholder, string> = {
    code: delivery.code,
    purpose: delivery.purpose,
    email: delivery.email,
    expiresAt: new Date(delivery.expiresAt).toISOString(),
    expiresInMinutes: String(Math.max(1, Math.round(seconds / 60))),
    expiresIn: describeRemaining(seconds),
  };
  return {
    subject: fill(templates.subject, values, (value) => value),
    text: fill(templates.text, values, (value) => value),
    html: fill(templates.html, values, escapeHtml),
  };
}

function readTemplate(source: TemplateSource, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new TemplateError(source, `expected a readable template file (${reason})`);
  }
}

function checkTemplate(source: TemplateSource, template: string, needsCode: boolean): void {
  const used = [...template.matchAll(PLACEHOLDER)].map((match) => match[1] as string);
  const unknown = used.filter((name) => !isPlaceholder(name));
  if (unknown.length > 0) {
    throw new TemplateError(
      source,
      `unknown placeholder {{${unknown[0]}}}; expected only ${MAIL_PLACEHOLDERS.map((name) => `{{${name}}}`).join(", ")}`,
    );
  }
  // A body that does not state the code would deliver nothing the user can type in.
  if (needsCode && !used.includes("code")) {
    throw new TemplateError(source, "expected a template that contains {{code}}");
  }
}

function isPlaceholder(name: string): name is Placeholder {
  return (MAIL_PLACEHOLDERS as readonly string[]).includes(name);
}

function fill(
  template: string,
  values: Record<Placeholder, string>,
  encode: (value: string) => string,
): string {
  return template.replace(PLACEHOLDER, (_whole, name: string) =>
    encode(values[name as Placeholder]),
  );
}

function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** "5 minutes", "90 seconds": seconds under two minutes, else whole minutes rounded down. */
function describeRemaining(seconds: number): string {
  if (seconds < 120) {
    return `${seconds} second${seconds === 1 ? "" : "s"}`;
  }
  return `${Math.floor(seconds / 60)} minutes`;
}
