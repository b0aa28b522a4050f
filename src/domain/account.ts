import { invalidArgument } from "./errors.js";
import { shareBucket } from "./otp-store.js";
import { checkExternalId, normalizeEmail } from "./validate.js";

/**
 * How a request names an account: by email, or by the application's own id for its user
 * (`external_id`, seed B's `user_id`). An account named one way is never the other: the same text
 * as an email and as an external id names two accounts.
 */
export type AccountName =
  | { readonly email: string; readonly externalId?: undefined }
  | { readonly externalId: string; readonly email?: undefined };

// A normalised email never starts with "@" (validate.ts wants at least one character before its
// one "@"), so no email can take a key with this prefix. ("ext:" alone would not do:
// `ext:ann@example.com` is a valid address.)
const EXTERNAL_ID_KEY_PREFIX = "@ext:";

/**
 * The account a request names by exactly one of `email` and `externalId` (empty means absent, as
 * in proto3), normalised. Throws naming `external_id` when both are given or the id is malformed,
 * and naming `email` when neither is given or the email is malformed.
 */
export function readAccount(input: {
  readonly email?: string | undefined;
  readonly externalId?: string | undefined;
}): AccountName {
  const email = input.email ?? "";
  const externalId = input.externalId ?? "";
  if (externalId !== "") {
    if (email !== "") {
      throw invalidArgument("external_id", "name the account by email or external_id, not both");
    }
    return { externalId: checkExternalId(externalId) };
  }
  if (email.trim() === "") {
    throw invalidArgument("email", "email (or external_id) is required");
  }
  return { email: normalizeEmail(email) };
}

/**
 * The one string the store keys an account by, wherever the port says `email` (codes, attempts,
 * users, sessions, idempotency keys): the normalised email itself, so that email accounts stored
 * before external ids existed keep their keys, or a prefixed key no email can equal.
 */
export function accountKey(account: AccountName): string {
  return account.externalId === undefined
    ? account.email
    : `${EXTERNAL_ID_KEY_PREFIX}${account.externalId}`;
}

/** The account a key from the store belongs to; the inverse of `accountKey`. */
export function accountOfKey(key: string): AccountName {
  return key.startsWith(EXTERNAL_ID_KEY_PREFIX)
    ? { externalId: key.slice(EXTERNAL_ID_KEY_PREFIX.length) }
    : { email: key };
}

/**
 * The bucket of the mailbox limit: every code the account receives, across networks and purposes.
 * Neither an email nor an external id holds a space, so a share of it (otp-store.ts shareBucket)
 * never names another account's bucket.
 */
export function mailboxLimitBucket(account: AccountName): string {
  // `email:` as the per-account limit's bucket was before, so windows live at an upgrade carry on.
  return account.externalId === undefined ? `email:${account.email}` : `ext:${account.externalId}`;
}

/**
 * Every limit window kept under an account's name: whole bucket names, and prefixes that name a
 * family of buckets (one per network). DeleteUser erases exactly these, so a bucket keyed by an
 * account that is added elsewhere must be added here too: this is the one list.
 */
export interface AccountBuckets {
  readonly names: readonly string[];
  readonly prefixes: readonly string[];
}

/**
 * The limit windows `account` names (see AccountBuckets): its mailbox, and each network's share of
 * it where a store keeps that as a bucket of its own (otp-store.ts shareBucket).
 */
export function accountBuckets(account: AccountName): AccountBuckets {
  const mailbox = mailboxLimitBucket(account);
  return { names: [mailbox], prefixes: [shareBucket(mailbox, "")] };
}
