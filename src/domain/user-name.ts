import { type AccountName, accountKey, readAccount } from "./account.js";
import { invalidArgument, type RequestField } from "./errors.js";
import type { UserRef } from "./otp-store.js";
import { checkUserId } from "./validate.js";

/**
 * How an operator names a user: by the account's name (email or external id, as the user's own
 * requests name it) or by the user record's id.
 */
export type UserName = { readonly account: AccountName } | { readonly userId: string };

/** An AdminService request's naming fields; empty means absent, as in proto3. */
export interface UserNameInput {
  readonly email?: string | undefined;
  readonly userId?: string | undefined;
  readonly externalId?: string | undefined;
}

/** An AdminService request: the user, and the service token the caller presented, if any. */
export interface AdminInput extends UserNameInput {
  /** `authorization: Bearer …` of the call. */
  readonly serviceToken?: string | undefined;
  /** The call's request id: the audit events the call writes carry it. */
  readonly requestId?: string | undefined;
}

const NAMING_FIELDS = [
  ["email", "email"],
  ["user_id", "userId"],
  ["external_id", "externalId"],
] as const satisfies readonly (readonly [RequestField, keyof UserNameInput])[];

/**
 * The user a request names by exactly one of `email`, `userId` and `externalId`, normalised and
 * checked as everywhere else. Throws an `invalid_argument` naming every field given when more than
 * one is, naming all three when none is, and naming the field when its value is malformed.
 */
export function readUserName(input: UserNameInput): UserName {
  const given = NAMING_FIELDS.filter(([, key]) => (input[key] ?? "") !== "");
  const [first, ...more] = given;
  if (first === undefined || more.length > 0) {
    const named = first === undefined ? NAMING_FIELDS : given;
    const [field, ...others] = named.map(([name]) => name);
    throw invalidArgument(
      field ?? "email",
      first === undefined
        ? "name the user by one of email, user_id or external_id"
        : `name the user by exactly one of email, user_id or external_id, not ${named.map(([name]) => name).join(" and ")}`,
      others,
    );
  }
  if (first[1] === "userId") {
    return { userId: checkUserId(input.userId ?? "") };
  }
  return { account: readAccount({ email: input.email, externalId: input.externalId }) };
}

/** The store's reference to the user `name` names: the account's key, or the user id. */
export function userRefOf(name: UserName): UserRef {
  return "userId" in name ? { userId: name.userId } : { email: accountKey(name.account) };
}
