import type { AccountFailure, AccountGate } from "./otp-store.js";

/**
 * The account's failure cap (SPEC "Guessing bound"): once the account has `gate.maxFailures`
 * failures within the window, unbound attempts and attempts from a network that contributed one
 * of them are refused; a bound attempt from a network that contributed none is still judged.
 * Returns until when this attempt is refused, or null when it is judged.
 *
 * The stores apply the same test inside the step that counts a failure or uses a code, so that
 * racing attempts cannot slip past the cap; this is the domain's reading of it, which also says
 * when the refusal ends: when the window drops below the cap, or (bound) when the network's own
 * failures leave it, whichever comes first.
 */
export function capRefusal(
  failures: readonly AccountFailure[],
  gate: Pick<AccountGate, "network" | "maxFailures" | "windowMs">,
  bound: boolean,
  now: number,
): number | null {
  const live = failures.filter((failure) => failure.at > now - gate.windowMs);
  if (live.length < gate.maxFailures) {
    return null;
  }
  // Oldest first: the window drops below the cap when this one leaves it.
  const capLifts = (live[live.length - gate.maxFailures] as AccountFailure).at + gate.windowMs;
  if (!bound) {
    return capLifts;
  }
  const own = live.filter((failure) => failure.network === gate.network);
  if (own.length === 0) {
    return null;
  }
  return Math.min(capLifts, (own.at(-1) as AccountFailure).at + gate.windowMs);
}
