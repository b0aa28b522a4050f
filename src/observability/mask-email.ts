// Email addresses in free text: a local part and a domain, each bounded so that scanning a long
// string stays linear (RFC 5321 allows 64 and 255 characters).
const EMAIL_IN_TEXT = /[^\s@<>()[\]\\,;:"']{1,64}@[^\s@<>()[\]\\,;:"']{1,255}/g;
const MAX_DOMAIN_LENGTH = 255;

/**
 * `ann@example.com` → `a***@example.com`: the first character of the local part and the domain,
 * enough to tell users and mail providers apart in logs without recording the address. Anything
 * without an `@` (or with nothing before it) becomes `***`. Never throws.
 */
export function maskEmail(email: string): string {
  const address = email.trim().toLowerCase();
  const at = address.lastIndexOf("@");
  if (at <= 0) {
    return "***";
  }
  return `${address.slice(0, 1)}***@${address.slice(at + 1, at + 1 + MAX_DOMAIN_LENGTH)}`;
}

// What maskEmail makes of an address: masking it again changes nothing.
const MASKED = /^[^\s@<>()[\]\\,;:"']?\*\*\*@[^\s@<>()[\]\\,;:"']{0,255}$/;

/** `text` with every email address in it masked as maskEmail does; other text stays as it was. */
export function maskEmailsIn(text: string): string {
  return !text.includes("@") || MASKED.test(text) ? text : text.replace(EMAIL_IN_TEXT, maskEmail);
}

/**
 * `value` with every email address in its strings masked, through plain objects and arrays;
 * other values are returned as they are. A copy only where something was masked: the value
 * itself when nothing was. For log entries, whose fields may hold error messages that quote an
 * address (an SMTP refusal, a database constraint violation).
 */
export function maskEmailsDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") {
    return maskEmailsIn(value);
  }
  // Log entries are shallow; the bound only guards against cycles.
  if (depth > 8 || value === null || typeof value !== "object") {
    return value;
  }
  if (Array.isArray(value)) {
    const items = value.map((item) => maskEmailsDeep(item, depth + 1));
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) {
    return value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    const masked = maskEmailsDeep(item, depth + 1);
    if (masked !== item) {
      copy ??= { ...value };
      copy[key] = masked;
    }
  }
  return copy ?? value;
}
