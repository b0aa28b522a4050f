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

/** Every number and switch the rules depend on; see SPEC.md "Rules" for what each means. */
export interface Policy {
  /** Decimal digits in a code, 4 to 10. */
  readonly codeLength: number;
  /** How long a code verifies after issue. */
  readonly codeTtlMs: number;
  /** Wrong codes per (email, purpose) before it is locked. */
  readonly maxAttempts: number;
  /** How long a lock lasts; also how long a failure is remembered without a lock. */
  readonly lockoutMs: number;
  /** Issued codes per email, across purposes. */
  readonly requestLimit: RateLimit;
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
  ipRequestLimit: { count: 8, windowMs: 15 * MINUTE },
  sessionTtlMs: 24 * HOUR,
  sessionIdleTtlMs: null,
  accessTokenTtlMs: 15 * MINUTE,
  idempotencyTtlMs: 24 * HOUR,
  statusByEmail: "closed",
};
