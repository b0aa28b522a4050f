import { type AccountName, accountOfKey } from "./account.js";
import { invalidArgument } from "./errors.js";
import type { OtpStore, StoredSession } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { AccessTokenVerifier, Clock, UncheckedClaims } from "./ports.js";
import { requireServiceToken } from "./service-caller.js";
import { hashSessionToken, isLive, isSessionTokenShaped } from "./session.js";

export interface IntrospectInput {
  /** The token asked about: a session token or an access token (told apart by shape). */
  readonly token: string;
  /** The service token the caller presented (`authorization: Bearer …`), if any. */
  readonly serviceToken?: string | undefined;
}

/** Who issues the access tokens and for whom: what an active answer says besides the session. */
export interface TokenAuthority {
  /** `iss` (ACCESS_TOKEN_ISSUER); an access token naming another issuer is not active. */
  readonly issuer: string;
  /** `aud` (ACCESS_TOKEN_AUDIENCE, by default the issuer). */
  readonly audience: string;
  /** `client_id` (ACCESS_TOKEN_CLIENT_ID). */
  readonly clientId: string;
}

/** What introspecting a token needs. */
export interface IntrospectTokenDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Secrets of the trusted services that may introspect; with none, no one may. */
  readonly serviceTokens?: readonly string[];
  /** Checks an access token's signature against the published keys. */
  readonly accessTokenVerifier: AccessTokenVerifier;
  readonly tokenAuthority: TokenAuthority;
  /** SESSION_IDLE_TTL (`sessionIdleTtlMs`): an idle session's tokens are not active. */
  readonly policy: Policy;
}

/** RFC 7662's answer: inactive and nothing more, or who and what an active token speaks for. */
export type Introspection =
  | { readonly active: false }
  | {
      readonly active: true;
      readonly userId: string;
      readonly sessionId: string;
      readonly account: AccountName;
      /** Epoch ms: a session token's creation, an access token's `iat`. */
      readonly issuedAt: number;
      /** Epoch ms: a session token's end, an access token's `exp`. */
      readonly expiresAt: number;
      readonly issuer: string;
      readonly audience: string;
      readonly clientId: string;
    };

const INACTIVE: Introspection = { active: false };
// A compact JWS: three base64url parts. Anything longer than this is no token of ours.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_ACCESS_TOKEN_LENGTH = 8192;

/**
 * RFC 7662 introspection, a trusted service's question: the caller must present a service token
 * (caller_unauthenticated otherwise, and always when none is configured), and an empty token is
 * invalid_argument (field `token`). Then a live session token, or an access token whose
 * signature a published key verifies, of this issuer, unexpired and whose session is still
 * live (signing out ends its access tokens here, though offline verifiers accept them until
 * `exp`), is active; anything else only inactive, whatever the reason (no oracle).
 */
export async function introspectToken(
  deps: IntrospectTokenDeps,
  input: IntrospectInput,
): Promise<Introspection> {
  requireServiceToken(
    deps.serviceTokens ?? [],
    input.serviceToken,
    "token introspection needs a service token: send authorization: Bearer <token>",
  );
  if (input.token === "") {
    throw invalidArgument("token", "token is required: the token to introspect");
  }
  if (isSessionTokenShaped(input.token)) {
    const session = await deps.store.findSession(hashSessionToken(input.token));
    return session === null
      ? INACTIVE
      : answer(deps, session, { issuedAt: session.createdAt, expiresAt: session.expiresAt });
  }
  if (input.token.length <= MAX_ACCESS_TOKEN_LENGTH && COMPACT_JWS.test(input.token)) {
    return accessTokenIntrospection(deps, input.token);
  }
  return INACTIVE;
}

async function accessTokenIntrospection(
  deps: IntrospectTokenDeps,
  token: string,
): Promise<Introspection> {
  const claims = await deps.accessTokenVerifier.verify(token);
  if (claims === null || claims.iss !== deps.tokenAuthority.issuer) {
    return INACTIVE;
  }
  const { sub, sid } = claims;
  const iat = secondsOf(claims, "iat");
  const exp = secondsOf(claims, "exp");
  if (typeof sub !== "string" || typeof sid !== "string" || iat === null || exp === null) {
    return INACTIVE;
  }
  if (exp * 1000 <= deps.clock.now()) {
    return INACTIVE;
  }
  const session = await deps.store.findSessionById(sid);
  // A token whose subject is not its session's user was never issued here, whatever signed it.
  if (session === null || session.userId !== sub) {
    return INACTIVE;
  }
  return answer(deps, session, { issuedAt: iat * 1000, expiresAt: exp * 1000 });
}

/** Active while `session` is live, with the token's own times. */
function answer(
  deps: IntrospectTokenDeps,
  session: StoredSession,
  times: { readonly issuedAt: number; readonly expiresAt: number },
): Introspection {
  if (!isLive(session, deps.clock.now(), deps.policy)) {
    return INACTIVE;
  }
  const { issuer, audience, clientId } = deps.tokenAuthority;
  return {
    active: true,
    userId: session.userId,
    sessionId: session.sessionId,
    // The store keeps the account's key; the answer names the account as it is named.
    account: accountOfKey(session.email),
    ...times,
    issuer,
    audience,
    clientId,
  };
}

/** A NumericDate claim (whole seconds since the epoch), or null when it is not one. */
function secondsOf(claims: UncheckedClaims, name: "iat" | "exp"): number | null {
  const value = claims[name];
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : null;
}
