import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import { defaultPolicy, type Policy } from "../../src/domain/policy.js";
import { createDomainHarness } from "../support/domain-harness.js";

// The figures README.md and docs/security.md state about a stranger's power with the default
// rules, derived here from the configured policy, and each played out against the service (the
// domain over the memory store, a fake clock): an attacker who plays as well as the rules allow
// reaches the bound and not one guess more.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const victim = "ann@example.com";
const WRONG = "999999";

/** What the rules allow a stranger in any 24 hours, from the policy alone. */
function bounds(policy: Policy) {
  const perNetwork = policy.accountMaxFailures * (DAY / policy.failureWindowMs);
  // Past the cap only bound guesses from fresh networks count, each at a live code: one issued
  // within the day or a code's lifetime before it, at most the mailbox cap per rolling window.
  const codes =
    policy.mailboxLimit.count * Math.ceil((DAY + policy.codeTtlMs) / policy.mailboxLimit.windowMs);
  const most = perNetwork + policy.maxAttempts * codes;
  return {
    perNetwork,
    withNetworks: (n: number) => Math.min(perNetwork - 1 + n, most),
    most,
    networksForMost: most - perNetwork + 1,
    chance: (guesses: number) => guesses / 10 ** policy.codeLength,
    networksToDeny: Math.ceil(policy.mailboxLimit.count / policy.requestLimit.count),
  };
}

/** Awaits a call that must be refused (a wrong code). */
async function refuse(call: Promise<unknown>): Promise<void> {
  await call.then(
    () => {
      throw new Error("a wrong code verified");
    },
    (error: unknown) => {
      if (!(error instanceof OtpError)) throw error;
    },
  );
}

const percent = (chance: number) => `${Number((chance * 100).toPrecision(2))}%`;

/** A stranger's session against the service, counting the guesses the service judged. */
function attack() {
  const harness = createDomainHarness({ codes: ["123456"] });
  const { service, store, clock } = harness;
  let networks = 0;
  const fresh = () => `10.${Math.floor(++networks / 250)}.${networks % 250}.1`;
  const request = async (clientIp: string) => {
    try {
      return (await service.requestOtp({ email: victim, purpose: "", clientIp })).otpId;
    } catch (error) {
      if (error instanceof OtpError) return null;
      throw error;
    }
  };
  /** A wrong guess; true when the service judged it (its answer is a mismatch or the lock it earned). */
  const guess = async (clientIp: string, otpId?: string) => {
    const before = await judged();
    try {
      await service.verifyOtp({ email: victim, otp: WRONG, purpose: "", otpId, clientIp });
      throw new Error("a wrong code verified");
    } catch (error) {
      if (!(error instanceof OtpError)) throw error;
    }
    return (await judged()) > before;
  };
  const judged = async () =>
    (
      await store.readOtpState({
        email: victim,
        purpose: "login",
        otpId: null,
        now: clock.now(),
        failureWindowMs: DAY,
      })
    ).failures.length;
  return { ...harness, fresh, request, guess, judged, networksUsed: () => networks };
}

describe("a stranger's power over one account, with the default rules", () => {
  const b = bounds(defaultPolicy);

  it("states the figures README.md and docs/security.md give", () => {
    expect(b.perNetwork).toBe(30);
    expect(b.most).toBe(780);
    expect(b.networksForMost).toBe(751);
    expect(b.networksToDeny).toBe(4);
    const readme = readFileSync("README.md", "utf8").replace(/\s+/g, " ");
    const security = readFileSync("docs/security.md", "utf8").replace(/\s+/g, " ");
    for (const text of [readme, security]) {
      expect(text).toContain(percent(b.chance(b.perNetwork)));
      expect(text).toContain(percent(b.chance(b.most)));
      expect(text).toContain(`${b.networksToDeny} networks`);
    }
    expect(readme).toContain(`${b.perNetwork} in a million a day`);
    expect(readme).toContain(`${b.most} in a million a day`);
    expect(security).toContain(`at most ${b.most} (reached with ${b.networksForMost} networks)`);
    expect(security).toContain(`| N networks | ${b.perNetwork - 1} + N |`);
  });

  it("from one network: 30 judged guesses a day, bound and unbound, however they are spread", async () => {
    const a = attack();
    const home = "203.0.113.66";
    const ids: string[] = [];
    for (let minute = 0; minute < DAY / MINUTE; minute++) {
      if (minute > 0) a.clock.advance(MINUTE);
      const id = await a.request(home);
      if (id !== null) ids.push(id);
      await a.guess(home);
      for (const otpId of ids.slice(-3)) await a.guess(home, otpId);
    }
    expect(await a.judged()).toBe(b.withNetworks(1));
  });

  it("from 50 networks: one more judged guess for each network past the first", async () => {
    const a = attack();
    const home = "203.0.113.66";
    // Ten codes asked for from ten networks, guessed wrong from one: the cap.
    for (let i = 0; i < 10; i++) {
      const otpId = (await a.request(a.fresh())) as string;
      for (let k = 0; k < 3; k++) await a.guess(home, otpId);
    }
    expect(await a.judged()).toBe(30);
    // Past the cap: the first network is refused; each of 49 others gets one judged guess at a
    // code it asked for, and is refused after it.
    let extra = 0;
    // The first ten codes fill the mailbox's hour; from then on, one code each 20 minutes.
    a.clock.advance(40 * MINUTE);
    for (let n = 0; n < 49; n++) {
      const network = a.fresh();
      a.clock.advance(20 * MINUTE);
      const otpId = await a.request(network);
      if (otpId === null) throw new Error("the mailbox cap refused a code");
      expect(await a.guess(home, otpId)).toBe(false);
      if (await a.guess(network, otpId)) extra++;
      expect(await a.guess(network, otpId)).toBe(false);
    }
    expect(extra).toBe(49);
    expect(await a.judged()).toBe(b.withNetworks(50));
  });

  it("from any number of networks: never more than 780 judged guesses in 24 hours", async () => {
    const a = attack();
    const start = a.clock.now();
    // 25 bursts of ten codes (the mailbox's cap an hour), an hour apart: the first one's codes
    // are guessed just before they expire, the last one's 24 hours after that.
    for (let burst = 0; burst < 25; burst++) {
      const askers = [a.fresh(), a.fresh(), a.fresh(), a.fresh()];
      const otpIds: string[] = [];
      for (let i = 0; i < 12; i++) {
        // Each code for a purpose of its own: each purpose has its own unbound lane.
        const purpose = `p${i % 10}`;
        try {
          const sent = await a.service.requestOtp({
            email: victim,
            purpose,
            clientIp: askers[i % 4] as string,
          });
          otpIds.push(sent.otpId);
        } catch (error) {
          if (!(error instanceof OtpError)) throw error;
        }
      }
      expect(otpIds).toHaveLength(10);
      if (burst === 0) {
        a.clock.advance(defaultPolicy.codeTtlMs - 1);
        // Before the cap, unbound guesses spend no code's attempts: three at each purpose's latest.
        for (let p = 0; p < 10; p++) {
          for (let k = 0; k < 3; k++) {
            await refuse(
              a.service.verifyOtp({
                email: victim,
                otp: WRONG,
                purpose: `p${p}`,
                clientIp: "198.51.100.1",
              }),
            );
          }
        }
        expect(await a.judged()).toBe(30);
      }
      // Past it, every attempt of every code, each from a network that never failed.
      for (const [i, otpId] of otpIds.entries()) {
        for (let k = 0; k < 3; k++) {
          const clientIp = a.fresh();
          await refuse(
            a.service.verifyOtp({ email: victim, otp: WRONG, purpose: `p${i}`, otpId, clientIp }),
          );
        }
      }
      if (burst < 24) a.clock.set(start + (burst + 1) * HOUR);
    }
    expect(await a.judged()).toBe(b.most);
  });

  it("keeps the owner from new codes with 4 networks, and not with 3", async () => {
    for (const networks of [b.networksToDeny - 1, b.networksToDeny]) {
      const a = attack();
      for (let hour = 0; hour < 3; hour++) {
        for (let n = 0; n < networks; n++) {
          for (let k = 0; k < 3; k++) await a.request(`10.9.${n}.1`);
        }
        const owner = await a.request("198.51.100.20");
        expect(owner === null, `${networks} networks, hour ${hour}`).toBe(
          networks >= b.networksToDeny,
        );
        a.clock.advance(HOUR);
      }
    }
  });
});
