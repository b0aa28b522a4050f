import { describe, expect, it } from "vitest";
import { type CurrentStore, failure, MINUTE, T0 } from "./fixtures.js";

/**
 * Rolling-window limits (takeSlot, releaseSlot): never more slots than the limit, even to
 * concurrent takers, and none while the pair named by `unlessLocked` is locked.
 */
export function describeLimitContract(store: CurrentStore): void {
  describe("rolling-window slots", () => {
    const limit = { count: 3, windowMs: 60 * MINUTE };
    const take = (slotId: string, now: number, bucket = "email:ann@example.com") =>
      store().takeSlot({ bucket, slotId, now, limit });

    it("grants up to the limit, then says when the oldest slot frees", async () => {
      expect(await take("a", T0)).toEqual({ granted: true, remaining: 2 });
      expect(await take("b", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: 1 });
      expect(await take("c", T0 + 20 * MINUTE)).toEqual({ granted: true, remaining: 0 });
      expect(await take("d", T0 + 30 * MINUTE)).toEqual({
        granted: false,
        retryAt: T0 + 60 * MINUTE,
      });
      expect(await take("e", T0 + 60 * MINUTE)).toEqual({ granted: true, remaining: 0 });
    });

    it("gives a released slot back, and keeps buckets apart", async () => {
      await take("a", T0);
      await take("b", T0);
      await take("c", T0);
      expect(await take("x", T0, "ip:192.0.2.1")).toEqual({ granted: true, remaining: 2 });
      await store().releaseSlot("email:ann@example.com", "b");
      expect(await take("d", T0 + 1)).toEqual({ granted: true, remaining: 0 });
      await store().releaseSlot("email:nobody", "zzz");
    });

    it("never grants more than the limit to concurrent takers", async () => {
      const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => take(`s${i}`, T0)));
      expect(outcomes.filter((o) => o.granted)).toHaveLength(3);
    });

    describe("unless a pair is locked", () => {
      const ann = { email: "ann@example.com", purpose: "login" };
      const takeUnless = (slotId: string, now: number, unlessLocked = ann) =>
        store().takeSlot({ bucket: "email:ann@example.com", slotId, now, limit, unlessLocked });
      /** Three failures at `now`: ann's login is locked until now + 10 minutes. */
      const lock = async (now: number) => {
        for (let i = 0; i < 3; i++) {
          await store().recordFailure(failure(now));
        }
      };

      it("refuses a slot while the pair is locked, using none of the quota", async () => {
        await lock(T0);
        for (let i = 0; i < 5; i++) {
          expect(await takeUnless(`locked-${i}`, T0 + i * MINUTE)).toEqual({
            granted: false,
            lockedUntil: T0 + 10 * MINUTE,
          });
        }
        // The lock ended within the window: its whole quota is still there.
        expect(await takeUnless("a", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: 2 });
        expect(await takeUnless("b", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: 1 });
        expect(await takeUnless("c", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: 0 });
      });

      it("grants a slot once the pair's lock has ended, and whatever other pairs' locks", async () => {
        await lock(T0);
        const annReset = { email: "ann@example.com", purpose: "reset" };
        const bobLogin = { email: "bob@example.com", purpose: "login" };
        expect(await takeUnless("a", T0 + MINUTE, annReset)).toEqual({
          granted: true,
          remaining: 2,
        });
        expect(await takeUnless("b", T0 + MINUTE, bobLogin)).toEqual({
          granted: true,
          remaining: 1,
        });
        expect(await takeUnless("c", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: 0 });
      });

      it("answers the lock before a reached limit", async () => {
        for (const id of ["a", "b", "c"]) {
          await takeUnless(id, T0);
        }
        await lock(T0);
        expect(await takeUnless("d", T0 + MINUTE)).toEqual({
          granted: false,
          lockedUntil: T0 + 10 * MINUTE,
        });
        expect(await takeUnless("d", T0 + 10 * MINUTE)).toEqual({
          granted: false,
          retryAt: T0 + 60 * MINUTE,
        });
      });
    });
  });
}
