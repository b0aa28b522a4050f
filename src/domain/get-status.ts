import { type AccountName, accountKey, accountOfKey, readAccount } from "./account.js";
import { invalidArgument } from "./errors.js";
import type { OtpStore } from "./otp-store.js";
import type { Clock, OtpEvents } from "./ports.js";
import { checkServiceCaller } from "./service-caller.js";
import {
  type AccessToken,
  type AccessTokenDeps,
  checkSessionToken,
  idleCutoffOf,
  isLive,
  issueAccessToken,
  sessionUseOf,
} from "./session.js";

export interface StatusInput {
  /** The account asked about, by exactly one of `email` and `externalId` (empty is absent). */
  readonly email?: string | undefined;
  readonly externalId?: string | undefined;
  /** A session token; when given, the question is about that session, not about an account. */
  readonly sessionToken?: string | undefined;
  /** The service token the caller presented (`authorization: Bearer …`), if any. */
  readonly serviceToken?: string | undefined;
}

/** What a status lookup needs, besides signing access tokens for live sessions. */
export interface GetStatusDeps extends AccessTokenDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /**
   * Secrets that let a caller look up an email's status; with none (or empty), policy
   * `statusByEmail` says whether everyone or no one may.
   */
  readonly serviceTokens?: readonly string[];
  /** Told of each session lookup, if given. */
  readonly events?: OtpEvents;
}

/** `authenticatedAt` is set only while authenticated; `session` only for a live session token. */
export interface Status {
  readonly authenticated: boolean;
  readonly authenticatedAt?: number;
  readonly session?: SessionFacts;
}

/** What a live session looked up by its token answers. */
export interface SessionFacts {
  readonly sessionId: string;
  readonly userId: string;
  /** The session's account, named as it was when the code was requested. */
  readonly account: AccountName;
  readonly purpose: string;
  readonly expiresAt: number;
  /** A fresh access token for the session. */
  readonly accessToken: AccessToken;
}

/**
 * By session token: the session's facts and a fresh access token while it is live; unknown,
 * expired and revoked tokens alike are only "not authenticated". By account (email or external
 * id: a trusted service's question, gated by checkServiceCaller before the account is even read):
 * authenticated while the account has a live session.
 */
export async function getStatus(deps: GetStatusDeps, input: StatusInput): Promise<Status> {
  const sessionToken = input.sessionToken ?? "";
  if (sessionToken !== "") {
    if ((input.email ?? "") !== "" || (input.externalId ?? "") !== "") {
      throw invalidArgument(
        "session_token",
        "send either session_token or an account (email or external_id), not both: they ask different questions",
      );
    }
    return sessionStatus(deps, checkSessionToken(sessionToken));
  }
  checkServiceCaller(deps.serviceTokens ?? [], deps.policy.statusByEmail, input.serviceToken);
  const account = readAccount(input);
  const now = deps.clock.now();
  const authenticatedAt = await deps.store.readAuthentication(
    accountKey(account),
    now,
    idleCutoffOf(deps.policy, now),
  );
  return authenticatedAt === null
    ? { authenticated: false }
    : { authenticated: true, authenticatedAt };
}

async function sessionStatus(deps: GetStatusDeps, token: string): Promise<Status> {
  const now = deps.clock.now();
  // Marks the session seen, when it is due, in the same store step as the lookup.
  const session = (await deps.store.useSession(sessionUseOf(deps.policy, token, now)))?.session;
  const live = session !== undefined && isLive(session, now, deps.policy);
  deps.events?.sessionLookedUp(live);
  if (!live) {
    return { authenticated: false };
  }
  // The store keeps the account's key; the session answers with the name it was requested by.
  const account = accountOfKey(session.email);
  return {
    authenticated: true,
    authenticatedAt: session.createdAt,
    session: {
      sessionId: session.sessionId,
      userId: session.userId,
      account,
      purpose: session.purpose,
      expiresAt: session.expiresAt,
      accessToken: await issueAccessToken(deps, { ...session, account }, now),
    },
  };
}
