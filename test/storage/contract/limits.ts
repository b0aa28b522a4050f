import { describe, expect, it } from "vitest";
import { type CurrentStore, MINUTE, T0 } from "./fixtures.js";

/**
 * Rolling-window limits (takeSlots, releaseSlots): never more slots than a limit, even to
 * concurrent takers, and a slot taken in several buckets at once or in none.
 */
export function describeLimitContract(store: CurrentStore): void {
  describe("rolling-window slots", () => {
    const limit = { count: 3, windowMs: 60 * MINUTE };
    const take = (slotId: string, now: number, bucket = "email:ann@example.com") =>
      store().takeSlots({ slotId, now, limits: [{ bucket, limit }] });

    it("grants up to the limit, then says when the oldest slot frees", async () => {
      expect(await take("a", T0)).toEqual({ granted: true, remaining: [2] });
      expect(await take("b", T0 + 10 * MINUTE)).toEqual({ granted: true, remaining: [1] });
      expect(await take("c", T0 + 20 * MINUTE)).toEqual({ granted: true, remaining: [0] });
      expect(await take("d", T0 + 30 * MINUTE)).toEqual({
        granted: false,
        refused: 0,
        retryAt: T0 + 60 * MINUTE,
      });
      expect(await take("e", T0 + 60 * MINUTE)).toEqual({ granted: true, remaining: [0] });
    });

    it("gives a released slot back, and keeps buckets apart", async () => {
      await take("a", T0);
      await take("b", T0);
      await take("c", T0);
      expect(await take("x", T0, "ip:192.0.2.1")).toEqual({ granted: true, remaining: [2] });
      await store().releaseSlots([{ bucket: "email:ann@example.com", limit }], "b");
      expect(await take("d", T0 + 1)).toEqual({ granted: true, remaining: [0] });
      await store().releaseSlots([{ bucket: "email:nobody", limit }], "zzz");
    });

    it("never grants more than the limit to concurrent takers", async () => {
      const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => take(`s${i}`, T0)));
      expect(outcomes.filter((o) => o.granted)).toHaveLength(3);
    });

    describe("with a share within a bucket", () => {
      const share = (tag: string, count = 1) => ({ tag, limit: { count, windowMs: 10 * MINUTE } });
      const mailbox = { count: 3, windowMs: 60 * MINUTE };
      const tagged = (slotId: string, now: number, tag: string, count?: number) =>
        store().takeSlots({
          slotId,
          now,
          limits: [{ bucket: "mailbox", limit: mailbox, share: share(tag, count) }],
        });

      it("holds a tag's slots to the share and every slot to the bucket, the share first", async () => {
        expect(await tagged("a", T0, "n1")).toEqual({ granted: true, remaining: [0] });
        expect(await tagged("b", T0 + MINUTE, "n1")).toEqual({
          granted: false,
          refused: 0,
          share: true,
          retryAt: T0 + 10 * MINUTE,
        });
        // Another tag has its own share of the same bucket.
        expect(await tagged("b", T0 + MINUTE, "n2")).toEqual({ granted: true, remaining: [0] });
        // The share's window has passed for a, the bucket's has not.
        expect(await tagged("c", T0 + 10 * MINUTE, "n1")).toEqual({
          granted: true,
          remaining: [0],
        });
        expect(await tagged("d", T0 + 11 * MINUTE, "n3")).toEqual({
          granted: false,
          refused: 0,
          retryAt: T0 + 60 * MINUTE,
        });
        await store().releaseSlots(
          [{ bucket: "mailbox", limit: mailbox, share: share("n1") }],
          "c",
        );
        expect(await tagged("d", T0 + 11 * MINUTE, "n3")).toEqual({
          granted: true,
          remaining: [0],
        });
      });

      it("answers what is left, the lesser of the share's and the bucket's", async () => {
        expect(await tagged("a", T0, "n1", 5)).toEqual({ granted: true, remaining: [2] });
        expect(await tagged("b", T0, "n1", 2)).toEqual({ granted: true, remaining: [0] });
        expect(await tagged("c", T0, "n2", 2)).toEqual({ granted: true, remaining: [0] });
      });

      it("is refused by a bucket beside it, and refuses by its share, at their places", async () => {
        const withNet = (slotId: string, tag: string) =>
          store().takeSlots({
            slotId,
            now: T0,
            limits: [
              { bucket: "mailbox", limit: mailbox, share: share(tag) },
              { bucket: "net", limit: { count: 2, windowMs: 10 * MINUTE } },
            ],
          });
        expect(await withNet("a", "n1")).toEqual({ granted: true, remaining: [0, 1] });
        expect(await withNet("b", "n1")).toEqual({
          granted: false,
          refused: 0,
          share: true,
          retryAt: T0 + 10 * MINUTE,
        });
        expect(await withNet("b", "n2")).toEqual({ granted: true, remaining: [0, 0] });
        expect(await withNet("c", "n3")).toEqual({
          granted: false,
          refused: 1,
          retryAt: T0 + 10 * MINUTE,
        });
        // Nothing was taken in the mailbox for c.
        expect(await tagged("c", T0, "n3")).toEqual({ granted: true, remaining: [0] });
      });

      it("never grants more than a share or its bucket to concurrent takers", async () => {
        const tags = ["n0", "n1", "n2"];
        const race = (count: number, prefix: string, bucketCount: number) =>
          Promise.all(
            Array.from({ length: 42 }, (_, i) =>
              store()
                .takeSlots({
                  slotId: `${prefix}${i}`,
                  now: T0,
                  limits: [
                    {
                      bucket: `mailbox-${prefix}`,
                      limit: { count: bucketCount, windowMs: 60 * MINUTE },
                      share: share(tags[i % 3] as string, count),
                    },
                  ],
                })
                .then((outcome) => (outcome.granted ? tags[i % 3] : null)),
            ),
          );
        const granted = (outcomes: (string | null | undefined)[], tag: string) =>
          outcomes.filter((t) => t === tag).length;
        // The bucket binds: 5 of the 6 the shares allow.
        const bucketBinds = await race(2, "b", 5);
        expect(bucketBinds.filter((t) => t !== null)).toHaveLength(5);
        for (const tag of tags) {
          expect(granted(bucketBinds, tag)).toBeLessThanOrEqual(2);
        }
        // The shares bind: 2 for each tag.
        const sharesBind = await race(2, "s", 10);
        for (const tag of tags) {
          expect(granted(sharesBind, tag)).toBe(2);
        }
      });
    });

    it("never grants more than a share, its bucket or a bucket beside it to concurrent takers", async () => {
      // Every (tag, network) pair asks 7 times: whatever the order, the mailbox (5) fills before
      // any tag (2 each) or network (4 each) can stop it, and none of them is passed.
      const outcomes = await Promise.all(
        Array.from({ length: 42 }, (_, i) =>
          store()
            .takeSlots({
              slotId: `s${i}`,
              now: T0,
              limits: [
                {
                  bucket: "mailbox",
                  limit: { count: 5, windowMs: 60 * MINUTE },
                  share: { tag: `n${i % 3}`, limit: { count: 2, windowMs: 60 * MINUTE } },
                },
                { bucket: `net-${i % 2}`, limit: { count: 4, windowMs: 60 * MINUTE } },
              ],
            })
            .then((outcome) => ({ granted: outcome.granted, tag: i % 3, net: i % 2 })),
        ),
      );
      const granted = outcomes.filter((o) => o.granted);
      expect(granted).toHaveLength(5);
      for (const tag of [0, 1, 2]) {
        expect(granted.filter((o) => o.tag === tag).length).toBeLessThanOrEqual(2);
      }
      for (const net of [0, 1]) {
        expect(granted.filter((o) => o.net === net).length).toBeLessThanOrEqual(4);
      }
    });

    describe("in several buckets at once", () => {
      const small = { count: 2, windowMs: 10 * MINUTE };
      const both = (slotId: string, now: number, first = "net", second = "mailbox") =>
        store().takeSlots({
          slotId,
          now,
          limits: [
            { bucket: first, limit: small },
            { bucket: second, limit },
          ],
        });

      it("takes a slot in every bucket or in none, and says which refused first", async () => {
        expect(await both("a", T0)).toEqual({ granted: true, remaining: [1, 2] });
        expect(await both("b", T0 + MINUTE)).toEqual({ granted: true, remaining: [0, 1] });
        // The first is full: nothing is taken in the second either.
        expect(await both("c", T0 + 2 * MINUTE)).toEqual({
          granted: false,
          refused: 0,
          retryAt: T0 + 10 * MINUTE,
        });
        expect(await both("c", T0 + 2 * MINUTE, "other-net")).toEqual({
          granted: true,
          remaining: [1, 0],
        });
        // Now the second is full, whichever first bucket comes with it.
        expect(await both("d", T0 + 3 * MINUTE, "third-net")).toEqual({
          granted: false,
          refused: 1,
          retryAt: T0 + 60 * MINUTE,
        });
        expect(await take("e", T0 + 3 * MINUTE, "third-net")).toEqual({
          granted: true,
          remaining: [2],
        });
      });

      it("gives a slot back to every bucket it was taken in", async () => {
        await both("a", T0);
        await both("b", T0);
        await store().releaseSlots(
          [
            { bucket: "net", limit: small },
            { bucket: "mailbox", limit },
          ],
          "a",
        );
        expect(await both("c", T0 + 1)).toEqual({ granted: true, remaining: [0, 1] });
      });

      it("never grants more than either limit to concurrent takers of overlapping buckets", async () => {
        // Takers of (net-i, mailbox) and (mailbox, net-i), bucket orders mixed: the mailbox (3)
        // holds, each network's bucket (2) holds, and no two of them deadlock.
        const outcomes = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            i % 2 === 0
              ? both(`s${i}`, T0, `net-${i % 3}`, "mailbox")
              : store().takeSlots({
                  slotId: `s${i}`,
                  now: T0,
                  limits: [
                    { bucket: "mailbox", limit },
                    { bucket: `net-${i % 3}`, limit: small },
                  ],
                }),
          ),
        );
        expect(outcomes.filter((o) => o.granted)).toHaveLength(3);
      });
    });
  });
}
