/** A rolling-window limit: at most `count` events in any `windowMs`. */
export interface RateLimit {
  readonly count: number;
  readonly windowMs: number;
}

/**
 * Whether GetStatus by email answers callers without a service token: `closed` (the default)
 * refuses them when no SERVICE_TOKENS are configured; `open` answers anyone (development, or
 * seed A's unauthenticated `GET /auth/status?email=`). Configured service tokens always gate.
 */
export type StatusByEmail = "closed" | "open";

/**
 * Whether VerifyOtp must name the otp_id of the code (OTP_VERIFY_BINDING): `optional` (the
 * default) also judges unbound attempts against the latest code, as seed A does; `required`
 * refuses them, which also closes the used/expired/not-found oracle of the unbound lane.
 */
export type VerifyBinding = "optional" | "required";

/** Every number and switch the rules depend on; see SPEC.md "Rules" for what each means. */
export interface Policy {
  /** Decimal digits in a code, 4 to 10. */
  readonly codeLength: number;
  /** How long a code verifies after issue. */
  readonly codeTtlMs: number;
  /**
   * Wrong codes a code takes when verified by its otp_id before it is dead; wrong unbound codes
   * per (account, purpose) before unbound verification of it is locked.
   */
  readonly maxAttempts: number;
  /** How long an unbound lock lasts; also how long an unbound failure is remembered without one. */
  readonly lockoutMs: number;
  /** Issued codes per (account, requesting network), across purposes. */
  readonly requestLimit: RateLimit;
  /** Issued codes per account across all networks: how many codes one mailbox receives. */
  readonly mailboxLimit: RateLimit;
  /** Wrong codes per account, bound and unbound, within `failureWindowMs` before it is capped. */
  readonly accountMaxFailures: number;
  /** The rolling window the account's failures are counted in (a new code resets nothing). */
  readonly failureWindowMs: number;
  /** Whether VerifyOtp must name its otp_id. */
  readonly verifyBinding: VerifyBinding;
  /** RequestOtp calls per client IP; null disables the limit. */
  readonly ipRequestLimit: RateLimit | null;
  /** How long the session that a successful verification starts lasts, unless signed out. */
  readonly sessionTtlMs: number;
  /** How long a session may go unused before it ends (SESSION_IDLE_TTL); null: no idle limit. */
  readonly sessionIdleTtlMs: number | null;
  /** How long an access token is valid (never past its session's end). */
  readonly accessTokenTtlMs: number;
  /** How long an idempotency key replays its first response. */
  readonly idempotencyTtlMs: number;
  /** Who may look up an email's status when no service tokens are configured (STATUS_BY_EMAIL). */
  readonly statusByEmail: StatusByEmail;
  /** How long audit events are kept before they are purged (AUDIT_RETENTION). */
  readonly auditRetentionMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The defaults from SPEC.md. */
export const defaultPolicy: Policy = {
  codeLength: 6,
  codeTtlMs: 5 * MINUTE,
  maxAttempts: 3,
  lockoutMs: 10 * MINUTE,
  requestLimit: { count: 3, windowMs: HOUR },
  mailboxLimit: { count: 10, windowMs: HOUR },
  accountMaxFailures: 30,
  failureWindowMs: 24 * HOUR,
  verifyBinding: "optional",
  ipRequestLimit: { count: 8, windowMs: 15 * MINUTE },
  sessionTtlMs: 24 * HOUR,
  sessionIdleTtlMs: null,
  accessTokenTtlMs: 15 * MINUTE,
  idempotencyTtlMs: 24 * HOUR,
  statusByEmail: "closed",
  auditRetentionMs: 90 * 24 * HOUR,
};
