import { type AccountName, accountOfKey } from "./account.js";
import { OtpError } from "./errors.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock } from "./ports.js";
import { requireOperator } from "./require-operator.js";
import { idleCutoffOf } from "./session.js";
import { type AdminInput, readUserName, userRefOf } from "./user-name.js";

/** What looking a user up needs. */
export interface GetUserDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Its SESSION_IDLE_TTL: an idle session is not live. */
  readonly policy: Policy;
  /** The secrets that admit a trusted service; with none, every caller is refused. */
  readonly serviceTokens?: readonly string[];
}

/** What GetUser answers. */
export interface UserFacts {
  readonly userId: string;
  /** The account, by the name its requests use. */
  readonly account: AccountName;
  readonly createdAt: number;
  /** The latest session's creation; absent if the user never verified a code. */
  readonly lastAuthenticatedAt?: number;
  readonly liveSessions: number;
}

/**
 * The user a trusted service names, with its record's times and live sessions. Refuses callers
 * without a service token (before reading the request), malformed names, and an unknown user
 * (`user_not_found`).
 */
export async function getUser(deps: GetUserDeps, input: AdminInput): Promise<UserFacts> {
  requireOperator(deps.serviceTokens, input.serviceToken);
  const now = deps.clock.now();
  const user = await deps.store.findUser(
    userRefOf(readUserName(input)),
    now,
    idleCutoffOf(deps.policy, now),
  );
  if (user === null) {
    throw new OtpError({ kind: "user_not_found" }, "no user by that name");
  }
  return {
    userId: user.userId,
    account: accountOfKey(user.email),
    createdAt: user.createdAt,
    ...(user.lastAuthenticatedAt === null ? {} : { lastAuthenticatedAt: user.lastAuthenticatedAt }),
    liveSessions: user.liveSessions,
  };
}
