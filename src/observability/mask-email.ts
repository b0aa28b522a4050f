// Where an address in free text may start or end: these characters also separate or wrap
// addresses in messages (`<a@x>, b@y`, `(a@x)`, `"a@x"`, `[a@x]`, `to:a@x`, `a\@x`).
const DELIMITERS = ",;:'\"()<>[]\\";
const DELIMITER = /[,;:'"()<>[\]\\]/;
// An `@` and what may be an address around it: up to 64 characters before it (RFC 5321's and the
// validator's limit for a local part) that are not whitespace or `@`, and a domain up to the next
// delimiter. Both bounded, so that scanning a long string stays linear.
const EMAIL_IN_TEXT = /([^\s@]{1,64})@([^\s@,;:'"()<>[\]\\]{0,255})/g;
const MAX_DOMAIN_LENGTH = 255;
// A local part as masking leaves it: its first character, if any, then `***`.
const MASKED_LOCAL = /^[^*]?\*\*\*$/u;

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
  return `${firstCharacter(address)}***@${address.slice(at + 1, at + 1 + MAX_DOMAIN_LENGTH)}`;
}

/**
 * `text` with every email address in it masked: whatever the validator (domain/validate.ts)
 * accepts, a local part may hold any character but whitespace and `@`, so every `@` with
 * something before it is taken for an address. Where the text before the `@` holds a delimiter
 * (`, ; : ' " ( ) < > [ ] \`), what comes before the last one is taken for the text around the
 * address and kept, and only the rest is masked (`to:ann@x` → `to:a***@x`,
 * `john.smith,jr@x` → `john.smith,j***@x`); but when the local part ends with a delimiter (a
 * quoted local part `"ann"@x`, a comment `ann(home)@x`), its whole run is masked, first character
 * kept (`"***@x`). Masking again changes nothing. Other text stays as it was.
 */
export function maskEmailsIn(text: string): string {
  return text.includes("@") ? text.replace(EMAIL_IN_TEXT, maskMatch) : text;
}

function maskMatch(_match: string, before: string, domain: string): string {
  return `${maskLocalPart(before)}@${domain.toLowerCase()}`;
}

/** `before`, the non-blank run in front of an `@`, with the local part in it masked. */
function maskLocalPart(before: string): string {
  if (DELIMITER.test(before.at(-1) ?? "")) {
    // The delimiter belongs to the address (a closing quote or comment): mask all of it.
    return `${firstCharacter(before)}***`;
  }
  let last = before.length - 1;
  while (last >= 0 && !DELIMITERS.includes(before.charAt(last))) {
    last--;
  }
  const local = before.slice(last + 1);
  const masked = MASKED_LOCAL.test(local) ? local : `${firstCharacter(local).toLowerCase()}***`;
  return before.slice(0, last + 1) + masked;
}

/** The first code point of `text` (a whole surrogate pair), or "". */
function firstCharacter(text: string): string {
  const code = text.codePointAt(0);
  return code === undefined ? "" : String.fromCodePoint(code);
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
