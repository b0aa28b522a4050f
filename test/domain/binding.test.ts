import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const email = "ann@example.com";
const owner = "198.51.100.20";
const attacker = "203.0.113.66";

describe("verification bound to its request (otp_id)", () => {
  it("judges a code by its otp_id although newer codes were requested since", async () => {
    const { service } = createDomainHarness({ codes: ["111111", "222222"] });
    const first = await service.requestOtp({ email, purpose: "", clientIp: owner });
    await service.requestOtp({ email, purpose: "", clientIp: attacker });
    // Unbound means the latest code: the first one is replaced for it...
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", clientIp: owner })),
    ).toMatchObject({ kind: "mismatch" });
    // ...but bound to its request, it verifies.
    const verified = await service.verifyOtp({
      email,
      otp: "111111",
      purpose: "",
      otpId: first.otpId,
      clientIp: owner,
    });
    expect(verified.session.token).toBeTruthy();
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", otpId: first.otpId })),
    ).toEqual({ kind: "already_used" });
  });

  it("answers not found for an otp_id that is no code of this account and purpose, counting nothing", async () => {
    const { service, store, clock } = createDomainHarness({ codes: ["111111", "222222"] });
    const ann = await service.requestOtp({ email, purpose: "" });
    const bob = await service.requestOtp({ email: "bob@example.com", purpose: "" });
    for (const otpId of [bob.otpId, "otp-never", ann.otpId]) {
      const purpose = otpId === ann.otpId ? "reset" : "";
      expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose, otpId }))).toEqual({
        kind: "not_found",
      });
    }
    const state = await store.readOtpState({
      email,
      purpose: "login",
      otpId: ann.otpId,
      now: clock.now(),
      failureWindowMs: 24 * HOUR,
    });
    expect(state.failures).toEqual([]);
    expect(state.code?.failures).toBe(0);
  });

  it("refuses a malformed otp_id, naming it, and a missing one when binding is required", async () => {
    const { service } = createDomainHarness({ policy: { verifyBinding: "required" } });
    await service.requestOtp({ email, purpose: "" });
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", otpId: "no spaces" })),
    ).toMatchObject({ kind: "invalid_argument", field: "otp_id" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toMatchObject(
      { kind: "invalid_argument", field: "otp_id" },
    );
  });

  it("gives each code its own attempts: the one that exhausts them locks that code alone", async () => {
    const { service } = createDomainHarness({ codes: ["111111", "222222"] });
    const first = await service.requestOtp({ email, purpose: "" });
    const second = await service.requestOtp({ email, purpose: "" });
    const wrong = () =>
      service.verifyOtp({ email, otp: "999999", purpose: "", otpId: first.otpId });
    expect(await refusalOf(wrong())).toEqual({ kind: "mismatch", attemptsRemaining: 2 });
    expect(await refusalOf(wrong())).toEqual({ kind: "mismatch", attemptsRemaining: 1 });
    expect(await refusalOf(wrong())).toEqual({
      kind: "locked",
      retryAfterMs: 5 * MINUTE,
      scope: "code",
    });
    // The code is dead: even the right digits find nothing.
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", otpId: first.otpId })),
    ).toEqual({ kind: "not_found" });
    // The other code and the unbound lane kept their attempts.
    await service.verifyOtp({ email, otp: "222222", purpose: "", otpId: second.otpId });
  });

  it("is not stopped by a lock that unbound attempts earned", async () => {
    const { service } = createDomainHarness({ codes: ["111111"] });
    const mine = await service.requestOtp({ email, purpose: "", clientIp: owner });
    for (let i = 0; i < 3; i++) {
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "", clientIp: attacker }));
    }
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", clientIp: owner })),
    ).toMatchObject({ kind: "locked" });
    await service.verifyOtp({ email, otp: "111111", purpose: "", otpId: mine.otpId });
  });
});

describe("request limits per network and per mailbox", () => {
  it("counts each network's requests apart, so one cannot use up another's", async () => {
    const { service } = createDomainHarness();
    for (let i = 0; i < 3; i++) {
      await service.requestOtp({ email, purpose: "", clientIp: attacker });
    }
    expect(
      await refusalOf(service.requestOtp({ email, purpose: "", clientIp: attacker })),
    ).toMatchObject({ kind: "request_limit" });
    const mine = await service.requestOtp({ email, purpose: "", clientIp: owner });
    expect(mine.remainingRequests).toBe(2);
  });

  it("caps what one mailbox receives across networks, until the oldest code leaves the hour", async () => {
    const { service, clock } = createDomainHarness({ policy: { ipRequestLimit: null } });
    for (let i = 0; i < 10; i++) {
      await service.requestOtp({ email, purpose: "", clientIp: `192.0.2.${i}` });
      clock.advance(MINUTE);
    }
    expect(await refusalOf(service.requestOtp({ email, purpose: "", clientIp: owner }))).toEqual({
      kind: "request_limit",
      retryAfterMs: HOUR - 10 * MINUTE,
    });
    clock.advance(HOUR - 10 * MINUTE);
    await service.requestOtp({ email, purpose: "", clientIp: owner });
  });
});

describe("the account's failure cap", () => {
  /** An attacker who requested `n` codes (a network each, to stay under the limits). */
  async function attackerCodes(
    service: ReturnType<typeof createDomainHarness>["service"],
    n: number,
  ) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      ids.push((await service.requestOtp({ email, purpose: "", clientIp: `10.0.${i}.1` })).otpId);
    }
    return ids;
  }

  /** 30 wrong codes from the attacker's network at the first ten of `ids`; their refusals' kinds. */
  async function thirtyWrong(
    service: ReturnType<typeof createDomainHarness>["service"],
    ids: string[],
  ): Promise<string[]> {
    const kinds: string[] = [];
    for (let i = 0; i < 30; i++) {
      const refusal = await refusalOf(
        service.verifyOtp({
          email,
          otp: "999999",
          purpose: "",
          otpId: ids[i % 10],
          clientIp: attacker,
        }),
      );
      kinds.push(refusal.kind);
    }
    return kinds;
  }

  it("refuses unbound attempts and the failing network past 30 a day, judging a bound one from a clean network", async () => {
    const { service, clock } = createDomainHarness({
      codes: ["111111"],
      policy: { ipRequestLimit: null, mailboxLimit: { count: 100, windowMs: HOUR } },
    });
    const ids = await attackerCodes(service, 10);
    const outcomes = await thirtyWrong(service, ids);
    // The 30th failure reaches the cap and answers locked.
    expect(outcomes.at(-1)).toBe("locked");
    const capLifts = 24 * HOUR;
    clock.advance(HOUR);
    // New codes reset nothing: the attacker's network and unbound attempts stay refused.
    const fresh = await service.requestOtp({ email, purpose: "", clientIp: attacker });
    expect(
      await refusalOf(
        service.verifyOtp({
          email,
          otp: "111111",
          purpose: "",
          otpId: fresh.otpId,
          clientIp: attacker,
        }),
      ),
    ).toEqual({ kind: "locked", retryAfterMs: capLifts - HOUR, scope: "account" });
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "", clientIp: owner })),
    ).toMatchObject({ kind: "locked" });
    // The owner, bound, from a network that never failed, is judged.
    const mine = await service.requestOtp({ email, purpose: "", clientIp: owner });
    await service.verifyOtp({
      email,
      otp: "111111",
      purpose: "",
      otpId: mine.otpId,
      clientIp: owner,
    });
  });

  it("gives a clean network one judged guess past the cap, then refuses it", async () => {
    const { service, store, clock } = createDomainHarness({
      policy: { ipRequestLimit: null, mailboxLimit: { count: 100, windowMs: HOUR } },
    });
    const ids = await attackerCodes(service, 11);
    await thirtyWrong(service, ids);
    const guess = () =>
      refusalOf(
        service.verifyOtp({ email, otp: "999999", purpose: "", otpId: ids[10], clientIp: owner }),
      );
    const failures = async () =>
      (
        await store.readOtpState({
          email,
          purpose: "login",
          otpId: null,
          now: clock.now(),
          failureWindowMs: 24 * HOUR,
        })
      ).failures.length;
    expect(await guess()).toMatchObject({ kind: "locked", scope: "account" });
    expect(await failures()).toBe(31);
    expect(await guess()).toMatchObject({ kind: "locked", scope: "account" });
    expect(await failures()).toBe(31);
  });
});
