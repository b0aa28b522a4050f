import { describe, expect, it } from "vitest";
import {
  type CurrentStore,
  failure,
  lookup,
  MINUTE,
  newCode,
  response,
  T0,
  use,
} from "./fixtures.js";

/** Purging (purgeExpired), across aggregates: what is past its retention goes, the rest stays. */
export function describePurgeContract(store: CurrentStore): void {
  describe("purging", () => {
    it("forgets what is past its retention and keeps the rest", async () => {
      await store().activateCode(newCode());
      await store().activateCode(
        newCode({ email: "bob@example.com", userId: "user-bob", retainUntil: T0 + 60 * MINUTE }),
      );
      await store().recordFailure(failure(T0, { email: "bob@example.com" }));
      await store().takeSlots({
        slotId: "a",
        now: T0,
        limits: [{ bucket: "email:ann@example.com", limit: { count: 1, windowMs: 5 * MINUTE } }],
      });
      const claimed = await store().claimIdempotencyKey({
        email: "ann@example.com",
        key: "k",
        purpose: "login",
        now: T0,
        expiresAt: T0 + 5 * MINUTE,
      });
      if (claimed.kind === "claimed") {
        await store().completeIdempotencyKey("ann@example.com", "k", claimed.holder, response);
      }

      const purged = await store().purgeExpired(T0 + 10 * MINUTE);
      expect(purged).toBeGreaterThanOrEqual(4);
      expect((await store().readOtpState(lookup("ann@example.com", "login"))).code).toBeNull();
      expect((await store().readOtpState(lookup("bob@example.com", "login"))).code?.otpId).toBe(
        "otp-1",
      );
      expect(
        await store().takeSlots({
          slotId: "b",
          now: T0 + 10 * MINUTE,
          limits: [{ bucket: "email:ann@example.com", limit: { count: 1, windowMs: 5 * MINUTE } }],
        }),
      ).toEqual({ granted: true, remaining: [0] });
      expect(await store().purgeExpired(T0 + 10 * MINUTE)).toBe(0);
      expect(await store().purgeExpired(T0 + 60 * MINUTE)).toBeGreaterThanOrEqual(1);
      expect((await store().readOtpState(lookup("bob@example.com", "login"))).code).toBeNull();
    });

    it("forgets a session, revoked or not, once it has expired", async () => {
      await store().activateCode(newCode());
      const u = use();
      await store().consumeCode(u);
      await store().revokeSessions({
        tokenHash: u.session.tokenHash,
        allOfUser: false,
        now: T0 + 2 * MINUTE,
      });
      await store().purgeExpired(T0 + 24 * 60 * MINUTE - 1);
      expect(await store().findSession(u.session.tokenHash)).not.toBeNull();
      expect(await store().purgeExpired(T0 + 24 * 60 * MINUTE)).toBeGreaterThanOrEqual(1);
      expect(await store().findSession(u.session.tokenHash)).toBeNull();
      expect(await store().findSessionById(u.session.sessionId)).toBeNull();
    });

    it("keeps an authentication for its whole retention", async () => {
      await store().activateCode(newCode());
      const u = use();
      await store().consumeCode(u);
      await store().purgeExpired(T0 + 23 * 60 * MINUTE);
      expect(await store().readAuthentication("ann@example.com", T0 + 23 * 60 * MINUTE)).toBe(
        T0 + MINUTE,
      );
      await store().purgeExpired(T0 + 25 * 60 * MINUTE);
      expect(await store().readAuthentication("ann@example.com", T0 + 2 * MINUTE)).toBeNull();
      expect(await store().findSession(u.session.tokenHash)).toBeNull();
    });
  });
}
