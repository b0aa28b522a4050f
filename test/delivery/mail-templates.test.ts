import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultMailTemplates,
  loadMailTemplates,
  type MailTemplates,
  renderMail,
  TemplateError,
} from "../../src/delivery/mail-templates.js";
import type { OtpDelivery } from "../../src/domain/ports.js";

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

function delivery(overrides: Partial<OtpDelivery> = {}): OtpDelivery {
  return {
    otpId: "otp-1",
    email: "ada@example.com",
    purpose: "login",
    code: "493817",
    expiresAt: NOW + 5 * 60_000,
    ...overrides,
  };
}

const dir = mkdtempSync(join(tmpdir(), "otp-templates-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function templateError(load: () => unknown): TemplateError {
  try {
    load();
  } catch (error) {
    if (error instanceof TemplateError) {
      return error;
    }
    throw error;
  }
  throw new Error("expected a TemplateError");
}

describe("mail templates", () => {
  it("by default state the code, its purpose and its expiry", () => {
    const mail = renderMail(defaultMailTemplates, delivery({ purpose: "reset" }), NOW);
    expect(mail.subject).toBe("Your reset code");
    expect(mail.text).toBe(
      "Your reset code is 493817\n\nIt expires in 5 minutes (2026-01-01T12:05:00.000Z) and works once.\nIf you did not ask for it, ignore this message.\n",
    );
    expect(mail.html).toContain(">493817</p>");
    expect(mail.html).toContain("Your reset code is");
    expect(mail.html).toContain("expires in 5 minutes (2026-01-01T12:05:00.000Z)");
  });

  it("fill every placeholder, with or without spaces inside the braces", () => {
    const templates: MailTemplates = {
      subject: "{{ code }} for {{email}}",
      text: "{{code}}|{{purpose}}|{{email}}|{{expiresAt}}|{{expiresInMinutes}}|{{expiresIn}}",
      html: "{{code}}",
    };
    const mail = renderMail(templates, delivery(), NOW);
    expect(mail.subject).toBe("493817 for ada@example.com");
    expect(mail.text).toBe("493817|login|ada@example.com|2026-01-01T12:05:00.000Z|5|5 minutes");
  });

  it("escape values in the HTML body, and only there", () => {
    const templates: MailTemplates = {
      subject: "{{email}}",
      text: "{{email}} {{code}}",
      html: "<p>{{email}}</p>{{code}}",
    };
    const mail = renderMail(templates, delivery({ email: "a<b>&'\"@example.com" }), NOW);
    expect(mail.html).toBe("<p>a&lt;b&gt;&amp;&#39;&quot;@example.com</p>493817");
    expect(mail.text).toBe("a<b>&'\"@example.com 493817");
    expect(mail.subject).toBe("a<b>&'\"@example.com");
  });

  it.each([
    [30_000, "30 seconds", "1"],
    [90_000, "90 seconds", "2"],
    [10 * 60_000 + 20_000, "10 minutes", "10"],
    // A few milliseconds between issuing and sending do not turn 5 minutes into 4.
    [5 * 60_000 - 7, "5 minutes", "5"],
  ])("say a code valid for %ims expires in %s (%s in whole minutes)", (ms, phrase, minutes) => {
    const templates = { ...defaultMailTemplates, text: "{{expiresIn}}/{{expiresInMinutes}}" };
    expect(renderMail(templates, delivery({ expiresAt: NOW + ms }), NOW).text).toBe(
      `${phrase}/${minutes}`,
    );
  });

  describe("overrides", () => {
    it("take the subject as written and the bodies from files", () => {
      const templates = loadMailTemplates({
        subject: "Sign-in code",
        textFile: file("text.txt", "code: {{code}}"),
        htmlFile: file("body.html", "<b>{{code}}</b>"),
      });
      expect(templates).toEqual({
        subject: "Sign-in code",
        text: "code: {{code}}",
        html: "<b>{{code}}</b>",
      });
    });

    it("keep the defaults for what they leave out", () => {
      expect(loadMailTemplates({ textFile: file("only-text.txt", "{{code}}") })).toEqual({
        ...defaultMailTemplates,
        text: "{{code}}",
      });
    });

    it("refuse a file that cannot be read, naming the source", () => {
      const error = templateError(() => loadMailTemplates({ htmlFile: join(dir, "missing.html") }));
      expect(error.source).toBe("htmlFile");
      expect(error.message).toMatch(/readable template file \(ENOENT\)/);
    });

    it("refuse an unknown placeholder, listing the known ones", () => {
      const error = templateError(() =>
        loadMailTemplates({ textFile: file("typo.txt", "{{code}} until {{expires}}") }),
      );
      expect(error.source).toBe("textFile");
      expect(error.message).toMatch(
        /unknown placeholder \{\{expires\}\}; expected only \{\{code\}\}/,
      );
    });

    it("refuse a body that does not state the code", () => {
      const error = templateError(() =>
        loadMailTemplates({ htmlFile: file("no-code.html", "hi") }),
      );
      expect(error.source).toBe("htmlFile");
      expect(error.message).toMatch(/contains \{\{code\}\}/);
    });

    it("refuse a subject over several lines", () => {
      const error = templateError(() =>
        loadMailTemplates({ subject: "Code\nBcc: eve@example.com" }),
      );
      expect(error.source).toBe("subject");
    });
  });
});
