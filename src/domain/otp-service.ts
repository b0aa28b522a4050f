import { getStatus, type StatusInput } from "./get-status.js";
import type { OtpStore } from "./otp-store.js";
import type { Policy } from "./policy.js";
import type { Clock, OtpSender, RandomSource } from "./ports.js";
import { type RequestOtpInput, requestOtp } from "./request-otp.js";
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
}

export type OtpService = ReturnType<typeof createOtpService>;

/**
 * The three operations of the service. Each resolves with its result or rejects with an OtpError
 * saying why the request was refused; any other rejection is a bug (or a broken store).
 */
export function createOtpService(deps: OtpServiceDeps) {
  return {
    requestOtp: (input: RequestOtpInput) => requestOtp(deps, input),
    verifyOtp: (input: VerifyOtpInput) => verifyOtp(deps, input),
    getStatus: (input: StatusInput) => getStatus(deps, input),
  };
}
