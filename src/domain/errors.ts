/** Request fields that validation can reject; `body` is the request as a whole. */
export type RequestField =
  | "email"
  | "external_id"
  | "user_id"
  | "otp"
  | "otp_id"
  | "purpose"
  | "idempotency_key"
  | "session_token"
  | "session_id"
  | "token"
  | "page_token"
  | "since"
  | "body";

/**
 * What a lock holds shut: `code`, the one code a bound verification named (its attempts are
 * spent: request a new one); `unbound`, unbound verification of (account, purpose), for
 * `OTP_LOCKOUT`; `account`, the account's failure cap, for the caller's network or for unbound
 * attempts.
 */
export type LockScope = "code" | "unbound" | "account";

/** Why the domain refused a request. Transport-neutral: the RPC layer maps each kind to a status. */
export type Refusal =
  | {
      readonly kind: "invalid_argument";
      readonly field: RequestField;
      readonly description: string;
      /** Further fields the same violation concerns (a request naming a user twice names both). */
      readonly moreFields?: readonly RequestField[];
    }
  | { readonly kind: "request_limit"; readonly retryAfterMs: number }
  | { readonly kind: "ip_limit"; readonly retryAfterMs: number }
  | { readonly kind: "locked"; readonly retryAfterMs: number; readonly scope: LockScope }
  | { readonly kind: "not_found" }
  /** AdminService GetUser: no user record by the name given. */
  | { readonly kind: "user_not_found" }
  | { readonly kind: "expired" }
  | { readonly kind: "already_used" }
  | { readonly kind: "mismatch"; readonly attemptsRemaining: number }
  | { readonly kind: "idempotency_mismatch" }
  /** An email lookup without a valid service token while service tokens are required. */
  | { readonly kind: "caller_unauthenticated" }
  /**
   * An account named by external id asked for a code, but the configured sender cannot reach one
   * (only the webhook can: the application knows how to reach its user).
   */
  | { readonly kind: "external_id_delivery_unavailable" }
  /** The code `otpId` was not delivered; the error's cause says why. */
  | { readonly kind: "delivery_failed"; readonly otpId: string }
  | { readonly kind: "storage_unavailable" };

/** A refusal the caller should see, with a message fit for an end user. */
export class OtpError extends Error {
  override readonly name = "OtpError";

  constructor(
    readonly refusal: Refusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Shorthand for an INVALID_ARGUMENT-style refusal naming `field` (and `moreFields`, when one
 * violation concerns several).
 */
export function invalidArgument(
  field: RequestField,
  description: string,
  moreFields: readonly RequestField[] = [],
): OtpError {
  return new OtpError(
    moreFields.length === 0
      ? { kind: "invalid_argument", field, description }
      : { kind: "invalid_argument", field, description, moreFields },
    description,
  );
}

/** "3 minutes", "45 seconds": how long a caller has to wait, rounded up, for messages. */
export function describeWait(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 120) {
    return `${seconds} second${seconds === 1 ? "" : "s"}`;
  }
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) {
    return `${minutes} minutes`;
  }
  return `${Math.ceil(minutes / 60)} hours`;
}

/** The refusal for a lock of `scope`, which lifts in `retryAfterMs`. */
export function lockedError(retryAfterMs: number, scope: LockScope): OtpError {
  return new OtpError(
    { kind: "locked", retryAfterMs, scope },
    scope === "code"
      ? "too many wrong codes for this code; request a new one"
      : `too many wrong codes; try again in ${describeWait(retryAfterMs)}`,
  );
}
