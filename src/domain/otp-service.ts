import { type DeleteUserDeps, deleteUser } from "./delete-user.js";
import { OtpError } from "./errors.js";
import { type GetStatusDeps, getStatus, type StatusInput } from "./get-status.js";
import { type GetUserDeps, getUser } from "./get-user.js";
import {
  type IntrospectInput,
  type IntrospectTokenDeps,
  introspectToken,
} from "./introspect-token.js";
import {
  type ListAuditEventsDeps,
  type ListAuditEventsInput,
  listAuditEvents,
} from "./list-audit-events.js";
import { type ListSessionsDeps, type ListSessionsInput, listSessions } from "./list-sessions.js";
import { type RequestOtpDeps, type RequestOtpInput, requestOtp } from "./request-otp.js";
import { type RevokeUserSessionsDeps, revokeUserSessions } from "./revoke-user-sessions.js";
import { type SignOutDeps, type SignOutInput, signOut } from "./sign-out.js";
import type { AdminInput } from "./user-name.js";
import { type VerifyOtpDeps, type VerifyOtpInput, verifyOtp } from "./verify-otp.js";

/**
 * The world the rules run in: what each operation declares it needs, together. Everything with a
 * side effect or a source of time comes in here; `events` is also told of every refusal.
 */
export interface OtpServiceDeps
  extends RequestOtpDeps,
    VerifyOtpDeps,
    GetStatusDeps,
    SignOutDeps,
    ListSessionsDeps,
    IntrospectTokenDeps,
    GetUserDeps,
    RevokeUserSessionsDeps,
    DeleteUserDeps,
    ListAuditEventsDeps {}

export type OtpService = ReturnType<typeof createOtpService>;

/**
 * The operations of the service. Each resolves with its result or rejects with an OtpError
 * saying why the request was refused; any other rejection is a bug (or a broken store).
 */
export function createOtpService(deps: OtpServiceDeps) {
  // Refusals are reported here, once, rather than at each of the many places that throw one.
  const reportRefusal = <T>(result: Promise<T>): Promise<T> =>
    result.catch((error: unknown) => {
      if (error instanceof OtpError) {
        deps.events?.refused(error.refusal);
      }
      throw error;
    });
  return {
    requestOtp: (input: RequestOtpInput) => reportRefusal(requestOtp(deps, input)),
    verifyOtp: (input: VerifyOtpInput) => reportRefusal(verifyOtp(deps, input)),
    getStatus: (input: StatusInput) => reportRefusal(getStatus(deps, input)),
    signOut: (input: SignOutInput) => reportRefusal(signOut(deps, input)),
    listSessions: (input: ListSessionsInput) => reportRefusal(listSessions(deps, input)),
    introspectToken: (input: IntrospectInput) => reportRefusal(introspectToken(deps, input)),
    getUser: (input: AdminInput) => reportRefusal(getUser(deps, input)),
    revokeUserSessions: (input: AdminInput) => reportRefusal(revokeUserSessions(deps, input)),
    deleteUser: (input: AdminInput) => reportRefusal(deleteUser(deps, input)),
    listAuditEvents: (input: ListAuditEventsInput) => reportRefusal(listAuditEvents(deps, input)),
  };
}
