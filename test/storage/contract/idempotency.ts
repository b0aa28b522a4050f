import { describe, expect, it } from "vitest";
import type { IdempotencyOutcome } from "../../../src/domain/otp-store.js";
import { type CurrentStore, MINUTE, response, T0 } from "./fixtures.js";

/**
 * Idempotency keys (claim, complete, release): one claimer of many holds a key, only the holder
 * completes or releases it, and later claims replay its response.
 */
export function describeIdempotencyContract(store: CurrentStore): void {
  describe("idempotency keys", () => {
    const claim = (now = T0, purpose = "login", signal?: AbortSignal) =>
      store().claimIdempotencyKey({
        email: "ann@example.com",
        key: "k1",
        purpose,
        now,
        expiresAt: T0 + 24 * 60 * MINUTE,
        signal,
      });
    const holderOf = (outcome: IdempotencyOutcome) => {
      if (outcome.kind !== "claimed") {
        throw new Error(`expected a claim, got ${outcome.kind}`);
      }
      return outcome.holder;
    };

    it("claims a free key, then replays its response", async () => {
      const holder = holderOf(await claim());
      await store().completeIdempotencyKey("ann@example.com", "k1", holder, response);
      expect(await claim(T0 + MINUTE)).toEqual({ kind: "replay", response });
      expect(await claim(T0 + MINUTE, "reset")).toEqual({ kind: "mismatch" });
    });

    it("frees a released key and an expired one", async () => {
      await store().releaseIdempotencyKey("ann@example.com", "k1", holderOf(await claim()));
      const holder = holderOf(await claim());
      await store().completeIdempotencyKey("ann@example.com", "k1", holder, response);
      expect((await claim(T0 + 24 * 60 * MINUTE)).kind).toBe("claimed");
    });

    it("gives each claim its own holder, and only the holder completes or releases", async () => {
      const holder = holderOf(await claim());
      const other = holderOf(
        await store().claimIdempotencyKey({
          email: "ann@example.com",
          key: "k2",
          purpose: "login",
          now: T0,
          expiresAt: T0 + MINUTE,
        }),
      );
      expect(other).not.toBe(holder);
      await store().releaseIdempotencyKey("ann@example.com", "k1", other);
      await store().completeIdempotencyKey("ann@example.com", "k1", other, {
        ...response,
        otpId: "not-the-holder",
      });
      await store().completeIdempotencyKey("ann@example.com", "k1", holder, response);
      expect(await claim(T0 + MINUTE)).toEqual({ kind: "replay", response });
    });

    it("stops waiting for a held key when the caller gives up", async () => {
      holderOf(await claim());
      const gaveUp = new Error("caller gave up");
      const controller = new AbortController();
      const started = performance.now();
      const waiting = claim(T0, "login", controller.signal);
      setTimeout(() => controller.abort(gaveUp), 100);
      await expect(waiting).rejects.toBe(gaveUp);
      // Well inside any lease: it was the abort that ended the wait.
      expect(performance.now() - started).toBeLessThan(5_000);
      await expect(claim(T0, "login", controller.signal)).rejects.toBe(gaveUp);
    });

    it("scopes keys per email", async () => {
      await claim();
      expect(
        (
          await store().claimIdempotencyKey({
            email: "bob@example.com",
            key: "k1",
            purpose: "login",
            now: T0,
            expiresAt: T0 + MINUTE,
          })
        ).kind,
      ).toBe("claimed");
    });

    it("gives a key to one of many concurrent claimers; the rest replay its response", async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const outcome = await claim();
          if (outcome.kind === "claimed") {
            await store().completeIdempotencyKey("ann@example.com", "k1", outcome.holder, response);
          }
          return outcome;
        }),
      );
      expect(outcomes.filter((o) => o.kind === "claimed")).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === "replay")).toHaveLength(19);
    });

    it("hands a released key to exactly one waiter", async () => {
      let claims = 0;
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const outcome = await claim();
          if (outcome.kind === "claimed") {
            claims++;
            if (claims === 1) {
              await store().releaseIdempotencyKey("ann@example.com", "k1", outcome.holder);
            } else {
              await store().completeIdempotencyKey(
                "ann@example.com",
                "k1",
                outcome.holder,
                response,
              );
            }
          }
          return outcome;
        }),
      );
      expect(outcomes.filter((o) => o.kind === "claimed")).toHaveLength(2);
      expect(outcomes.filter((o) => o.kind === "replay")).toHaveLength(8);
    });
  });
}
