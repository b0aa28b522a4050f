import { operatorAuditContextOf } from "./audit-event.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents } from "./ports.js";
import { requireOperator } from "./require-operator.js";
import { idleCutoffOf } from "./session.js";
import { type AdminInput, readUserName, userRefOf } from "./user-name.js";

/** What ending a user's sessions needs. */
export interface RevokeUserSessionsDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Its SESSION_IDLE_TTL: an idle session is over already, and not counted as ended. */
  readonly policy: Policy;
  readonly serviceTokens?: readonly string[];
  /** Told of the session.revoked events written, if given. */
  readonly events?: OtpEvents;
}

/**
 * Ends every live session of the user a trusted service names (a compromised mailbox) and
 * answers how many it ended: 0 for an unknown user, as for one without live sessions. Refuses
 * callers without a service token and malformed names.
 */
export async function revokeUserSessions(
  deps: RevokeUserSessionsDeps,
  input: AdminInput,
): Promise<number> {
  requireOperator(deps.serviceTokens, input.serviceToken);
  const now = deps.clock.now();
  const revoked = await deps.store.revokeUserSessions(
    userRefOf(readUserName(input)),
    now,
    idleCutoffOf(deps.policy, now),
    operatorAuditContextOf(input, now, deps.policy.auditRetentionMs),
  );
  deps.events?.audited?.("session.revoked", revoked);
  return revoked;
}
