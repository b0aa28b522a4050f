import type { OtpDelivery, OtpSender, RandomSource } from "../../src/domain/ports.js";

/** A clock that only moves when told to. */
export function createFakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** Codes taken from `codes` in order (then "000000"-style repeats of the last), ids counting up. */
export function createFixedRandom(codes: string[] = []) {
  let next = 0;
  let ids = 0;
  const random: RandomSource = {
    digits(length) {
      const code = codes[next] ?? codes[codes.length - 1] ?? "1".repeat(length);
      next++;
      return code.padStart(length, "0").slice(-length);
    },
    id() {
      ids++;
      return `otp-${ids}`;
    },
  };
  return random;
}

/** A sender that records what it delivered; `fail` makes the next sends reject. */
export function createRecordingSender() {
  const sent: OtpDelivery[] = [];
  let failure: Error | null = null;
  const sender: OtpSender & {
    sent: OtpDelivery[];
    lastCodeFor(email: string): string;
    fail(error: Error | null): void;
  } = {
    sent,
    async send(delivery) {
      if (failure !== null) {
        throw failure;
      }
      sent.push(delivery);
    },
    lastCodeFor(email) {
      const found = sent.findLast((d) => d.email === email);
      if (found === undefined) {
        throw new Error(`no code was sent to ${email}`);
      }
      return found.code;
    },
    fail(error) {
      failure = error;
    },
  };
  return sender;
}
