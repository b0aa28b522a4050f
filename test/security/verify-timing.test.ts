import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";

// Whether a wrong code shares 0 or 5 leading digits with the right one must not change how long
// VerifyOtp takes: otherwise a guesser could find the code a digit at a time. The service compares
// HMACs of the codes in constant time (src/domain/otp-code.ts), so no step can depend on the
// prefix; this test checks the whole call, store included, from outside.
//
// Robust against noise by construction: the two kinds of attempt are interleaved in a random
// order (so load, GC and JIT hit both alike), medians are compared (not means), and a leak must
// show in each of three rounds to fail. It cannot see a difference of a few nanoseconds (an
// early-exit string compare of six digits); it does see any extra step taken for a near miss.

const RIGHT = "739264";
const NEAR_MISS = "739260"; // five leading digits right
const FAR_MISS = "000000"; // none right
const TRIALS = 3000;
const ROUNDS = 3;
// Medians may differ by this fraction of the smaller one (or 250 ns, if larger) and still pass.
const TOLERANCE = 0.05;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Medians (ns) of VerifyOtp with a near and a far miss, interleaved at random. */
async function measure(): Promise<{ near: number; far: number }> {
  // Attempts never lock (nor reach the account's cap, whose window is too short to hold them)
  // and the code never expires, so every trial takes the same path.
  const { service } = createDomainHarness({
    codes: [RIGHT],
    policy: {
      maxAttempts: Number.MAX_SAFE_INTEGER,
      accountMaxFailures: Number.MAX_SAFE_INTEGER,
      failureWindowMs: 1,
      codeTtlMs: 24 * 3_600_000,
    },
  });
  const email = "ann@example.com";
  await service.requestOtp({ email, purpose: "" });
  const attempt = async (otp: string) => {
    const start = process.hrtime.bigint();
    const refusal = await refusalOf(service.verifyOtp({ email, otp, purpose: "" }));
    const elapsed = Number(process.hrtime.bigint() - start);
    // Every attempt must reach the comparison: one refused earlier would time something else.
    if (refusal.kind !== "mismatch") {
      expect.fail(`attempt with ${otp} was refused before the comparison: ${refusal.kind}`);
    }
    return elapsed;
  };
  for (let i = 0; i < 300; i++) {
    await attempt(i % 2 === 0 ? NEAR_MISS : FAR_MISS); // warm-up
  }
  const near: number[] = [];
  const far: number[] = [];
  for (let i = 0; i < TRIALS * 2; i++) {
    if (near.length < TRIALS && (far.length >= TRIALS || Math.random() < 0.5)) {
      near.push(await attempt(NEAR_MISS));
    } else {
      far.push(await attempt(FAR_MISS));
    }
  }
  return { near: median(near), far: median(far) };
}

describe("VerifyOtp timing", () => {
  it("takes as long for a code with five right leading digits as for one with none", async () => {
    const rounds: { near: number; far: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const result = await measure();
      rounds.push(result);
      const allowed = Math.max(250, TOLERANCE * Math.min(result.near, result.far));
      if (Math.abs(result.near - result.far) <= allowed) {
        return;
      }
    }
    expect.fail(
      `near-miss and far-miss medians differ in every round (ns): ${JSON.stringify(rounds)}`,
    );
  });
});
