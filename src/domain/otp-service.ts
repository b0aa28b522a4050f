import { OtpError } from "./errors.js";
import { getStatus, type StatusInput } from "./get-status.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { AccessTokenSigner, Clock, OtpEvents, OtpSender, RandomSource } from "./ports.js";
import { type RequestOtpInput, requestOtp } from "./request-otp.js";
import { type SignOutInput, signOut } from "./sign-out.js";
import { type VerifyOtpInput, verifyOtp } from "./verify-otp.js";

/** The world the rules run in; everything with a side effect or a source of time comes in here. */
export interface OtpServiceDeps {
  readonly store: OtpStore;
  readonly sender: OtpSender;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly policy: Policy;
  /** Key for the HMAC that codes are stored as. */
  readonly hmacKey: Uint8Array;
  /** Signs the access tokens that verifications and session lookups answer with. */
  readonly accessTokens: AccessTokenSigner;
  /** Secrets that let a caller look up an email's status; none (or empty) leaves it open. */
  readonly serviceTokens?: readonly string[];
  /** Told what the rules decided (codes issued, verified, failed, locked; refusals), if given. */
  readonly events?: OtpEvents;
}

export type OtpService = ReturnType<typeof createOtpService>;

/**
 * The four operations of the service. Each resolves with its result or rejects with an OtpError
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
  };
}
