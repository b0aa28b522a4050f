import { describe, expect, it } from "vitest";
import { accountBuckets, mailboxLimitBucket } from "../../src/domain/account.js";
import { type OtpStore, shareBucket, type UserErasure } from "../../src/domain/otp-store.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;
const email = "ann@example.com";
const asOperator = { serviceToken: SERVICE_TOKEN };

/** A harness with `email` signed in; its verification's answer too. */
async function signedIn(options: Parameters<typeof createDomainHarness>[0] = {}) {
  const harness = createDomainHarness(options);
  await harness.service.requestOtp({ email, purpose: "" });
  const verified = await harness.service.verifyOtp({ email, otp: "111111", purpose: "" });
  return { ...harness, verified };
}

/** A memory store that records what eraseUser was asked to erase. */
function erasureRecorder(): { store: OtpStore; erasures: UserErasure[] } {
  const inner = createMemoryStore();
  const erasures: UserErasure[] = [];
  return {
    erasures,
    store: {
      ...inner,
      eraseUser(erasure) {
        erasures.push(erasure);
        return inner.eraseUser(erasure);
      },
    },
  };
}

describe("AdminService in the domain", () => {
  describe("the gate", () => {
    it("refuses every operation without one of the service tokens, before reading the request", async () => {
      const { service } = await signedIn();
      for (const serviceToken of [undefined, "", "another-token-0123456789-abcdefghijklmnop"]) {
        for (const call of [
          service.getUser({ email: "not even an address", serviceToken }),
          service.revokeUserSessions({ email, serviceToken }),
          service.deleteUser({ email, serviceToken }),
        ]) {
          expect(await refusalOf(call)).toEqual({ kind: "caller_unauthenticated" });
        }
      }
    });

    it("with no service tokens configured, refuses everyone, even with status by email open", async () => {
      const { service } = await signedIn({ serviceTokens: [], policy: { statusByEmail: "open" } });
      expect(await refusalOf(service.getUser({ email, ...asOperator }))).toEqual({
        kind: "caller_unauthenticated",
      });
      expect(await refusalOf(service.deleteUser({ email }))).toEqual({
        kind: "caller_unauthenticated",
      });
    });
  });

  describe("naming the user", () => {
    it("takes exactly one of email, user_id and external_id, naming the fields otherwise", async () => {
      const { service } = createDomainHarness();
      expect(await refusalOf(service.getUser({ ...asOperator }))).toMatchObject({
        kind: "invalid_argument",
        field: "email",
        moreFields: ["user_id", "external_id"],
      });
      expect(
        await refusalOf(service.getUser({ email, externalId: "ext-1", ...asOperator })),
      ).toMatchObject({ field: "email", moreFields: ["external_id"] });
      expect(
        await refusalOf(service.deleteUser({ userId: "abc", externalId: "ext-1", ...asOperator })),
      ).toMatchObject({ field: "user_id", moreFields: ["external_id"] });
    });

    it("checks each name as the rest of the service does", async () => {
      const { service } = createDomainHarness();
      const malformed: [Record<string, string>, string][] = [
        [{ email: "ann@@example.com" }, "email"],
        [{ email: "ann\u200b@example.com" }, "email"],
        [{ userId: "with/slash" }, "user_id"],
        [{ userId: "x".repeat(65) }, "user_id"],
        [{ externalId: "x".repeat(129) }, "external_id"],
      ];
      for (const [name, field] of malformed) {
        expect(
          await refusalOf(service.revokeUserSessions({ ...name, ...asOperator })),
        ).toMatchObject({ kind: "invalid_argument", field });
      }
    });
  });

  describe("GetUser", () => {
    it("answers the user by email (normalised) or by id, with its times and live sessions", async () => {
      const { service, verified, clock } = await signedIn();
      const signedInAt = clock.now();
      clock.advance(MINUTE);
      const byEmail = await service.getUser({ email: " Ann@Example.com", ...asOperator });
      expect(byEmail).toEqual({
        userId: verified.session.userId,
        account: { email },
        createdAt: signedInAt,
        lastAuthenticatedAt: signedInAt,
        liveSessions: 1,
      });
      expect(await service.getUser({ userId: verified.session.userId, ...asOperator })).toEqual(
        byEmail,
      );
    });

    it("has no last authentication before a login, and an unknown user is user_not_found", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      const user = await service.getUser({ email, ...asOperator });
      expect(user.lastAuthenticatedAt).toBeUndefined();
      expect(user.liveSessions).toBe(0);
      expect(await refusalOf(service.getUser({ email: "bob@example.com", ...asOperator }))).toEqual(
        { kind: "user_not_found" },
      );
    });
  });

  describe("RevokeSessions", () => {
    it("ends every live session and says how many; status by session and by email is false", async () => {
      const { service, verified, sender } = await signedIn();
      await service.requestOtp({ email, purpose: "reset" });
      await service.verifyOtp({ email, otp: sender.lastCodeFor(email), purpose: "reset" });
      expect(await service.revokeUserSessions({ email, ...asOperator })).toBe(2);
      expect(
        (await service.getStatus({ sessionToken: verified.session.token })).authenticated,
      ).toBe(false);
      expect((await service.getStatus({ email, ...asOperator })).authenticated).toBe(false);
      expect(await service.revokeUserSessions({ email, ...asOperator })).toBe(0);
      expect(await service.revokeUserSessions({ email: "bob@example.com", ...asOperator })).toBe(0);
    });
  });

  describe("DeleteUser", () => {
    it("erases the account's records and every limit bucket the domain keys by it", async () => {
      const { store, erasures } = erasureRecorder();
      const { service, verified } = await signedIn({ store });
      expect(await service.deleteUser({ userId: verified.session.userId, ...asOperator })).toBe(
        true,
      );
      expect(erasures).toMatchObject([
        { email, userId: verified.session.userId, buckets: accountBuckets({ email }) },
      ]);
      // The one list names the mailbox's bucket, and every network's share kept as a bucket of
      // its own, by their common prefix.
      for (const account of [{ email }, { externalId: "ext-1" }]) {
        const buckets = accountBuckets(account);
        expect(buckets.names).toContain(mailboxLimitBucket(account));
        const perNetwork = shareBucket(mailboxLimitBucket(account), "ip:192.0.2.7");
        expect(buckets.prefixes.some((prefix) => perNetwork.startsWith(prefix))).toBe(true);
      }
      expect(
        (await service.getStatus({ sessionToken: verified.session.token })).authenticated,
      ).toBe(false);
      expect(await refusalOf(service.getUser({ email, ...asOperator }))).toEqual({
        kind: "user_not_found",
      });
    });

    it("is idempotent: an unknown or erased user answers false, by any name", async () => {
      const { service, verified } = await signedIn();
      expect(await service.deleteUser({ email, ...asOperator })).toBe(true);
      expect(await service.deleteUser({ email, ...asOperator })).toBe(false);
      expect(await service.deleteUser({ userId: verified.session.userId, ...asOperator })).toBe(
        false,
      );
      expect(await service.deleteUser({ externalId: "nobody", ...asOperator })).toBe(false);
    });

    it("gives the account its whole request limit back, and a new user id at the next login", async () => {
      const { service, verified, sender } = await signedIn({
        policy: { requestLimit: { count: 2, windowMs: 60 * MINUTE } },
      });
      await service.requestOtp({ email, purpose: "" });
      await service.deleteUser({ email, ...asOperator });
      const issued = await service.requestOtp({ email, purpose: "" });
      expect(issued.remainingRequests).toBe(1);
      const again = await service.verifyOtp({ email, otp: sender.lastCodeFor(email), purpose: "" });
      expect(again.session.userId).not.toBe(verified.session.userId);
    });
  });
});
