import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { IssuedOtp } from "../../src/domain/otp-store.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { MINUTE, newCode, T0, use } from "./contract/fixtures.js";
import { createContractDatabase } from "./postgres-contract-database.js";
import { describeStoreContract } from "./store-contract.js";

const response: IssuedOtp = {
  otpId: "otp-1",
  expiresAt: T0 + 300_000,
  ttlMs: 300_000,
  remainingRequests: 2,
  codeLength: 6,
};

const database = await createContractDatabase();

describeStoreContract("postgres", database.openStore(database.url, "none"));

describe("postgres idempotency leases", () => {
  it("a holder whose lease lapsed and was taken over can no longer complete the key", async () => {
    await database.schemaPool.query("TRUNCATE otp_idempotency");
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    const store = createPostgresStore(pool, { idempotencyLease: "200 milliseconds" });
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
      await store.close();
    }
  });
});

describe("postgres user records", () => {
  it("are kept for good: a user who returns after every record of theirs was purged keeps their id", async () => {
    const { store, dispose } = await database.openStore(database.url, "none")();
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
});
