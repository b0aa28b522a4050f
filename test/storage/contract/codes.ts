import { describe, expect, it } from "vitest";
import { type CurrentStore, failure, MINUTE, newCode, T0, use } from "./fixtures.js";

/**
 * Codes and failed attempts (activateCode, consumeCode, recordFailure, readOtpState): a code is
 * used at most once, even by concurrent uses, and the failure reaching the limit locks its pair.
 */
export function describeCodeContract(store: CurrentStore): void {
  describe("codes", () => {
    it("has no code and no lock for a pair it never saw", async () => {
      expect(await store().readOtpState("ann@example.com", "login")).toEqual({
        code: null,
        lockedUntil: null,
      });
      expect(await store().readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
    });

    it("keeps an activated code with its hash, not authenticated yet", async () => {
      await store().activateCode(newCode());
      const { code } = await store().readOtpState("ann@example.com", "login");
      expect(code).toMatchObject({
        otpId: "otp-1",
        issuedAt: T0,
        expiresAt: T0 + 5 * MINUTE,
        usedAt: null,
      });
      expect(Buffer.from(code?.codeHash ?? [])).toEqual(Buffer.alloc(32, 7));
      expect(await store().readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
    });

    it("replaces the active code of the same pair only", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
      await store().activateCode(newCode({ otpId: "otp-2" }));
      expect((await store().readOtpState("ann@example.com", "login")).code?.otpId).toBe("otp-2");
      expect((await store().readOtpState("ann@example.com", "reset")).code?.otpId).toBe("otp-r");
    });

    it("consumes a code once, authenticating the user and clearing failures", async () => {
      await store().activateCode(newCode());
      await store().recordFailure(failure(T0));
      expect(await store().consumeCode(use())).toEqual({ kind: "consumed", userId: "user-ann" });
      expect((await store().readOtpState("ann@example.com", "login")).code?.usedAt).toBe(
        T0 + MINUTE,
      );
      expect(await store().readAuthentication("ann@example.com", T0 + MINUTE)).toBe(T0 + MINUTE);
      expect(await store().consumeCode(use({ now: T0 + 2 * MINUTE }))).toEqual({ kind: "used" });
      expect((await store().recordFailure(failure(T0 + 2 * MINUTE))).failures).toBe(1);
    });

    it("does not consume a replaced, missing, expired or locked code", async () => {
      expect(await store().consumeCode(use())).toEqual({ kind: "replaced" });
      await store().activateCode(newCode());
      expect(await store().consumeCode(use({ otpId: "otp-0" }))).toEqual({ kind: "replaced" });
      expect(await store().consumeCode(use({ now: T0 + 5 * MINUTE }))).toEqual({ kind: "expired" });
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0));
      }
      expect(await store().consumeCode(use())).toEqual({
        kind: "locked",
        lockedUntil: T0 + 10 * MINUTE,
      });
      expect(await store().readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
    });

    it("lets exactly one of many concurrent consumptions win", async () => {
      await store().activateCode(newCode());
      const uses = Array.from({ length: 50 }, () => use());
      const outcomes = await Promise.all(uses.map((u) => store().consumeCode(u)));
      expect(outcomes.filter((o) => o.kind === "consumed")).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === "used")).toHaveLength(49);
      // Exactly one session, and it is the winner's.
      const found = await Promise.all(uses.map((u) => store().findSession(u.session.tokenHash)));
      const winner = outcomes.findIndex((o) => o.kind === "consumed");
      expect(found.filter((f) => f !== null)).toHaveLength(1);
      expect(found[winner]?.sessionId).toBe(uses[winner]?.session.sessionId);
    });
  });

  describe("failures", () => {
    it("counts up, and the one reaching the limit locks and burns the code", async () => {
      await store().activateCode(newCode());
      expect(await store().recordFailure(failure(T0))).toEqual({ failures: 1, lockedUntil: null });
      expect(await store().recordFailure(failure(T0 + 1))).toEqual({
        failures: 2,
        lockedUntil: null,
      });
      expect(await store().recordFailure(failure(T0 + 2))).toEqual({
        failures: 3,
        lockedUntil: T0 + 2 + 10 * MINUTE,
      });
      expect(await store().readOtpState("ann@example.com", "login")).toEqual({
        code: null,
        lockedUntil: T0 + 2 + 10 * MINUTE,
      });
    });

    it("does not count while locked, and starts from zero when the lock ends", async () => {
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0));
      }
      expect(await store().recordFailure(failure(T0 + MINUTE))).toEqual({
        failures: 0,
        lockedUntil: T0 + 10 * MINUTE,
      });
      expect(await store().recordFailure(failure(T0 + 10 * MINUTE))).toEqual({
        failures: 1,
        lockedUntil: null,
      });
    });

    it("forgets a count once the last failure's lockUntil has passed", async () => {
      await store().recordFailure(failure(T0));
      await store().recordFailure(failure(T0 + MINUTE));
      expect((await store().recordFailure(failure(T0 + 11 * MINUTE))).failures).toBe(1);
    });

    it("keeps pairs apart", async () => {
      await store().recordFailure(failure(T0));
      await store().recordFailure(failure(T0));
      expect((await store().recordFailure(failure(T0, { purpose: "reset" }))).failures).toBe(1);
      expect(
        (await store().recordFailure(failure(T0, { email: "bob@example.com" }))).failures,
      ).toBe(1);
    });

    it("counts concurrent failures exactly", async () => {
      await store().activateCode(newCode());
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () => store().recordFailure(failure(T0))),
      );
      const counted = outcomes.map((o) => o.failures).filter((n) => n > 0);
      expect(counted.sort()).toEqual([1, 2, 3]);
      expect(outcomes.filter((o) => o.lockedUntil === null)).toHaveLength(2);
      expect((await store().readOtpState("ann@example.com", "login")).code).toBeNull();
    });
  });
}
