import type { AuditEventType } from "./audit-event.js";
import type { Refusal } from "./errors.js";

/** Where the domain reads the time. All instances sharing state must agree on it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** Where the domain gets unpredictable values. Production uses a CSPRNG. */
export interface RandomSource {
  /** `length` uniformly random decimal digits. */
  digits(length: number): string;
  /** A fresh unique identifier, safe to show to clients. */
  id(): string;
  /** A fresh bearer secret: URL-safe characters carrying at least 128 unpredictable bits. */
  token(): string;
}

/** What an access token says, besides what the signer adds (`iss`, `aud`, the header). */
export interface AccessTokenClaims {
  /** The user's id. */
  readonly sub: string;
  /** The account's email; absent for an account named by external id. */
  readonly email?: string;
  /** The account's external id; absent for an account named by email. */
  readonly ext?: string;
  readonly purpose: string;
  /** The session's id. */
  readonly sid: string;
  /** Unique per token. */
  readonly jti: string;
  /** Issued at, in whole seconds since the epoch, as JWTs count. */
  readonly iat: number;
  /** Expires at, in whole seconds since the epoch. */
  readonly exp: number;
  readonly amr: readonly string[];
}

/** Signs access tokens. Rejects only on a bug (a key that cannot sign is refused at start-up). */
export interface AccessTokenSigner {
  /** The signed token (a compact JWS). */
  sign(claims: AccessTokenClaims): Promise<string>;
}

/** A JWT's claims as its payload holds them: any JSON values, to be checked by whoever reads them. */
export type UncheckedClaims = Readonly<Record<string, unknown>>;

/**
 * Checks access tokens' signatures against the published keys. Only the signature and header:
 * what the claims must say (issuer, expiry, a live session) is the domain's to judge.
 */
export interface AccessTokenVerifier {
  /**
   * The payload of `token` if it is a compact JWS of type `at+jwt` whose `kid` names one of the
   * published keys and whose signature verifies by that key's own algorithm (the header's `alg`
   * must agree with it; it is never trusted to choose one); null for anything else, malformed
   * input included. Never rejects on bad input.
   */
  verify(token: string): Promise<UncheckedClaims | null>;
}

/** What a sender needs to deliver one code, whoever it goes to. */
interface CodeDelivery {
  readonly otpId: string;
  readonly purpose: string;
  readonly code: string;
  readonly expiresAt: number;
}

/** A code for an account named by email. */
export interface OtpDelivery extends CodeDelivery {
  readonly email: string;
}

/** A code for an account named by external id: the application knows how to reach its user. */
export interface ExternalIdDelivery extends CodeDelivery {
  readonly externalId: string;
}

/**
 * Delivers codes. `send` resolves once the message is handed over and rejects when it was not
 * (or may not have been): either way a rejected code is never activated.
 */
export interface OtpSender {
  /** `signal` aborts when the caller gives up (deadline, disconnect): the send then stops. */
  send(delivery: OtpDelivery, signal?: AbortSignal): Promise<void>;
  /**
   * Delivers a code to an account named by external id, as `send` does to an email. Only a sender
   * that can reach such an account has it (the webhook); without it the domain refuses those
   * requests before using any quota.
   */
  sendToExternalId?(delivery: ExternalIdDelivery, signal?: AbortSignal): Promise<void>;
  /** Releases what the sender holds (SMTP's pooled connections); at shutdown. */
  close?(): void | Promise<void>;
}

/** What a SignOut asked to end. */
export type SignOutScope = "session" | "other_session" | "all_sessions";

/**
 * What the rules report as they decide, for metrics. Called after the fact; an implementation
 * must return at once and never throw, since it runs inside the request.
 */
export interface OtpEvents {
  /** A new code was delivered and activated (a replayed response issues none). */
  codeIssued(): void;
  /** A code verified and authenticated its email; a session was created with it. */
  codeVerified(): void;
  /**
   * A session was looked up by its token (GetStatus, ListSessions); `live` says whether it was
   * answered as live.
   */
  sessionLookedUp(live: boolean): void;
  /**
   * A SignOut was carried out (whether or not anything ended: they look alike), of the token's
   * `session`, of an `other_session` of its user, or of `all_sessions`.
   */
  signedOut(scope: SignOutScope): void;
  /** A wrong code was counted against its (email, purpose). */
  codeFailed(): void;
  /** A wrong code reached the attempt limit: the code is burned and (email, purpose) locked. */
  codeLocked(): void;
  /** A request was refused, for the reason `refusal` gives (every kind, validation included). */
  refused(refusal: Refusal): void;
  /**
   * `count` audit events of `type` were written (a step's events, once it resolved). The
   * `session.revoked` events of an erasure are not told (the erasure answers only whether it
   * erased).
   */
  audited?(type: AuditEventType, count: number): void;
}
