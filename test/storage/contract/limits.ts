import { describe, expect, it } from "vitest";
import { type CurrentStore, MINUTE, T0 } from "./fixtures.js";

/**
 * Rolling-window limits (takeSlot, releaseSlot): never more slots than the limit, even to
 * concurrent takers.
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
  });
}
