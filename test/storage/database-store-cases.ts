import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { IssuedOtp } from "../../src/domain/otp-store.js";
import { lookup, MINUTE, newCode, T0, use } from "./contract/fixtures.js";
import type { StoreUnderTest } from "./store-contract.js";

const response: IssuedOtp = {
  otpId: "otp-1",
  expiresAt: T0 + 300_000,
  ttlMs: 300_000,
  remainingRequests: 2,
  codeLength: 6,
};

/**
 * What a store on a shared database promises beyond the contract (which the memory store keeps
 * too): leases of idempotency keys, and user records kept for good. Run by each engine's store
 * test; `openWithShortLease` opens a store whose keys' leases last 200 ms.
 */
export function describeDatabaseStoreCases(
  engine: string,
  stores: {
    open(): Promise<StoreUnderTest>;
    openWithShortLease(): Promise<StoreUnderTest>;
  },
): void {
  describe(`${engine} idempotency leases`, () => {
    it("a holder whose lease lapsed and was taken over can no longer complete the key", async () => {
      const { store, dispose } = await stores.openWithShortLease();
      try {
        const claim = () =>
          store.claimIdempotencyKey({
            email: "ann@example.com",
            key: "lease",
            purpose: "login",
            now: T0,
            expiresAt: T0 + 60_000,
          });
        const first = await claim();
        await sleep(400);
        // Same process, same key: the second request takes the lapsed lease over.
        const second = await claim();
        if (first.kind !== "claimed" || second.kind !== "claimed") {
          throw new Error(`expected two claims, got ${first.kind} and ${second.kind}`);
        }
        const late = { ...response, otpId: "from-the-lapsed-holder" };
        await store.completeIdempotencyKey("ann@example.com", "lease", first.holder, late);
        await store.completeIdempotencyKey("ann@example.com", "lease", second.holder, response);
        expect(await claim()).toEqual({ kind: "replay", response });
      } finally {
        await dispose();
      }
    });
  });

  describe(`${engine} user records`, () => {
    it("are kept for good: a user who returns after every record of theirs was purged keeps their id", async () => {
      const { store, dispose } = await stores.open();
      try {
        const day = 24 * 60 * MINUTE;
        await store.activateCode(newCode({ email: "returning@example.com", userId: "user-first" }));
        expect(
          await store.consumeCode(use({ email: "returning@example.com", userId: "user-unused" })),
        ).toEqual({ kind: "consumed", userId: "user-first" });
        // Long after the code, its session and the user's retention have all passed.
        await store.purgeExpired(T0 + 400 * day);
        const later = T0 + 401 * day;
        await store.activateCode(
          newCode({
            email: "returning@example.com",
            userId: "user-second",
            otpId: "otp-2",
            issuedAt: later,
            expiresAt: later + 5 * MINUTE,
            retainUntil: later + 10 * MINUTE,
          }),
        );
        expect(
          await store.consumeCode(
            use({ email: "returning@example.com", otpId: "otp-2", now: later + MINUTE }),
          ),
        ).toEqual({ kind: "consumed", userId: "user-first" });
      } finally {
        await dispose();
      }
    });

    it("never give one user id to two emails: a clash is an error, not another email's record", async () => {
      const { store, dispose } = await stores.open();
      try {
        await store.activateCode(newCode({ email: "ann@example.com", userId: "user-same" }));
        await expect(
          store.activateCode(newCode({ email: "bob@example.com", userId: "user-same" })),
        ).rejects.toThrow();
        await store.activateCode(newCode({ email: "cy@example.com", userId: "user-cy" }));
        // A use proposing a taken id for an email that has a record keeps that record.
        await expect(
          store.consumeCode(use({ email: "cy@example.com", userId: "user-same" })),
        ).resolves.toEqual({ kind: "consumed", userId: "user-cy" });
        expect(await store.consumeCode(use())).toEqual({ kind: "consumed", userId: "user-same" });
        expect((await store.readOtpState(lookup("bob@example.com", "login"))).code).toBeNull();
      } finally {
        await dispose();
      }
    });
  });
}
