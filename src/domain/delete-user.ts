import { accountBuckets, accountKey, accountOfKey } from "./account.js";
import { operatorAuditContextOf } from "./audit-event.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpEvents } from "./ports.js";
import { requireOperator } from "./require-operator.js";
import { type AdminInput, readUserName } from "./user-name.js";

/** What erasing a user needs. */
export interface DeleteUserDeps {
  readonly store: OtpStore;
  readonly clock: Clock;
  /** Its AUDIT_RETENTION: how long the erasure's own events are kept. */
  readonly policy: Policy;
  readonly serviceTokens?: readonly string[];
  /** Told of the user.deleted event written, if given. */
  readonly events?: OtpEvents;
}

/**
 * Erases the user a trusted service names: the user record and everything kept under the
 * account's name (codes, failure counts, sessions, idempotency records, the limit windows
 * `accountBuckets` lists). Resolves true when a user record was erased, false for an unknown
 * user (idempotent). Named by user id, the account is read from the user record first, and the
 * erasure then applies only while that account still belongs to that id.
 */
export async function deleteUser(deps: DeleteUserDeps, input: AdminInput): Promise<boolean> {
  requireOperator(deps.serviceTokens, input.serviceToken);
  const name = readUserName(input);
  const now = deps.clock.now();
  const audit = operatorAuditContextOf(input, now, deps.policy.auditRetentionMs);
  let erased: boolean;
  if ("account" in name) {
    erased = await deps.store.eraseUser({
      email: accountKey(name.account),
      buckets: accountBuckets(name.account),
      now,
      audit,
    });
  } else {
    const user = await deps.store.findUser({ userId: name.userId }, now);
    erased =
      user !== null &&
      (await deps.store.eraseUser({
        email: user.email,
        userId: user.userId,
        buckets: accountBuckets(accountOfKey(user.email)),
        now,
        audit,
      }));
  }
  if (erased) {
    deps.events?.audited?.("user.deleted", 1);
  }
  return erased;
}
