import type { ConsumeOutcome, OtpState } from "../domain/otp-store.js";

/**
 * Why a guarded consume of code `otpId` at `now` changed nothing, told from the pair's state read
 * after it (so a concurrent writer's change is seen): the lock first, then a replaced or missing
 * code, then a used one; what is left is expired.
 */
export function consumeRefusal(
  state: OtpState,
  otpId: string,
  now: number,
): Exclude<ConsumeOutcome, { kind: "consumed" }> {
  if (state.lockedUntil !== null && state.lockedUntil > now) {
    return { kind: "locked", lockedUntil: state.lockedUntil };
  }
  if (state.code === null || state.code.otpId !== otpId) {
    return { kind: "replaced" };
  }
  if (state.code.usedAt !== null) {
    return { kind: "used" };
  }
  return { kind: "expired" };
}
