/**
 * Limits on one call, validated once and handed to every door (connect's read limit, grpc-js's
 * receive limit, the REST body reader), so that a call is held to the same bounds whichever door
 * it comes through. Per-connection limits are server/connection-limits.ts's.
 */
export interface ServeLimits {
  /** Largest request message accepted, in bytes; larger ones get MESSAGE_TOO_LARGE. */
  readonly maxRequestBytes: number;
}

/** The service's limits: 64 KiB is far above any request of its API. */
export const DEFAULT_SERVE_LIMITS: ServeLimits = { maxRequestBytes: 64 * 1024 };
