import { invalidArgument } from "./errors.js";

const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;
// Pragmatic, not RFC 5322: one @, a dot in the domain, no whitespace, control characters or
// U+FFFD (what a lenient decoder leaves of bytes that were not text).
const EMAIL_SHAPE = /^[^\s@\p{Cc}\uFFFD]+@[^\s@\p{Cc}\uFFFD.]+(\.[^\s@\p{Cc}\uFFFD.]+)+$/u;
const PURPOSE_SHAPE = /^[a-z][a-z0-9_-]{0,31}$/;
const IDEMPOTENCY_KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const EXTERNAL_ID_SHAPE = /^[\x21-\x7e]{1,128}$/;
// The ids this service makes (otp, user and session ids) are 22 URL-safe base64 characters
// (crypto-random.ts, and the PostgreSQL migration's default): the alphabet is checked, and a
// length its columns can hold. A well-formed id that names nothing is answered as not found.
const SERVICE_ID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

/** The purpose used when a request leaves it empty. */
export const DEFAULT_PURPOSE = "login";

// Zero-width and bidi controls (Unicode category Cf) are invisible: with them one mailbox could be
// written many ways, each another user with its own limits.
const FORMAT_CHARACTER = /\p{Cf}/u;

/**
 * Trims, NFC-normalises and lower-cases an email address so that one mailbox has one spelling.
 * Throws an `invalid_argument` OtpError naming `email` when it is empty, too long, holds a format
 * character or is not an address.
 */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().normalize("NFC").toLowerCase();
  if (email === "") {
    throw invalidArgument("email", "email is required");
  }
  if (FORMAT_CHARACTER.test(email)) {
    throw invalidArgument(
      "email",
      "email must not contain invisible format characters (zero-width or bidi controls)",
    );
  }
  if (email.length > MAX_EMAIL_LENGTH) {
    throw invalidArgument("email", `email must be at most ${MAX_EMAIL_LENGTH} characters`);
  }
  if (!EMAIL_SHAPE.test(email) || email.indexOf("@") > MAX_LOCAL_PART_LENGTH) {
    throw invalidArgument("email", "email must be an address like name@example.com");
  }
  return email;
}

/** Returns the purpose, `login` when empty. Throws naming `purpose` when it has the wrong shape. */
export function normalizePurpose(raw: string | undefined): string {
  // Absent (no wire message omits it, but a caller of the domain may) means empty: login.
  if (raw === "" || raw === undefined) {
    return DEFAULT_PURPOSE;
  }
  if (!PURPOSE_SHAPE.test(raw)) {
    throw invalidArgument(
      "purpose",
      "purpose must match ^[a-z][a-z0-9_-]{0,31}$ (lower-case letter first), or be empty for login",
    );
  }
  return raw;
}

/** Returns the code without surrounding whitespace. Throws naming `otp` unless it is `length` digits. */
export function normalizeOtp(raw: string, length: number): string {
  const otp = raw.trim();
  if (otp.length !== length || !/^[0-9]+$/.test(otp)) {
    throw invalidArgument("otp", `otp must be ${length} decimal digits`);
  }
  return otp;
}

/** Throws naming `idempotency_key` unless the key is 1 to 255 visible ASCII characters. */
export function checkIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY_SHAPE.test(key)) {
    throw invalidArgument(
      "idempotency_key",
      "idempotency-key must be 1 to 255 visible ASCII characters",
    );
  }
  return key;
}

/**
 * Returns the external id unchanged: it is the application's own name for its user, so it is
 * case-sensitive and neither trimmed nor normalised. Throws naming `external_id` unless it is 1 to
 * 128 visible ASCII characters.
 */
export function checkExternalId(externalId: string): string {
  if (!EXTERNAL_ID_SHAPE.test(externalId)) {
    throw invalidArgument(
      "external_id",
      "external_id must be 1 to 128 visible ASCII characters (no spaces)",
    );
  }
  return externalId;
}

/**
 * `id` unchanged if it has the shape of an id this service makes; else an invalid_argument
 * naming `field`, described by `description`.
 */
export function checkServiceId(
  field: "otp_id" | "user_id" | "session_id",
  id: string,
  description: string,
): string {
  if (!SERVICE_ID_SHAPE.test(id)) {
    throw invalidArgument(field, description);
  }
  return id;
}

/** The otp_id a verification is bound to, or null when absent (empty); malformed, refused. */
export function normalizeOtpId(otpId: string | undefined): string | null {
  if (otpId === undefined || otpId === "") {
    return null;
  }
  return checkServiceId(
    "otp_id",
    otpId,
    "otp_id must be the otp_id RequestOtp answered (1 to 64 URL-safe characters)",
  );
}

/** The user id unchanged (ids compare exactly); malformed, refused naming `user_id`. */
export function checkUserId(userId: string): string {
  return checkServiceId(
    "user_id",
    userId,
    "user_id must be 1 to 64 URL-safe base64 characters (A-Z, a-z, 0-9, - and _), as VerifyOtp answers it",
  );
}
