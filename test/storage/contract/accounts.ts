import { describe, expect, it } from "vitest";
import { accountKey } from "../../../src/domain/account.js";
import type { IdempotencyOutcome } from "../../../src/domain/otp-store.js";
import { createDomainHarness } from "../../support/domain-harness.js";
import { refusalOf } from "../../support/refusal.js";
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

// The same text as an email and as an external id: two accounts.
const MAILBOX = "ann@example.com";
const BY_ID = accountKey({ externalId: MAILBOX });

/**
 * Accounts named by external id (src/domain/account.ts): the store keeps them under their account
 * key like any other, so they never mix with an email account, and the rules' races hold for them
 * through the service as for an email.
 */
export function describeAccountContract(store: CurrentStore): void {
  describe("accounts named by external id", () => {
    it("keeps an external id's code, failures and lock apart from the email spelled the same", async () => {
      await store().activateCode(newCode({ email: BY_ID, userId: "user-ext", otpId: "otp-x" }));
      expect(await store().readOtpState(lookup(MAILBOX, "login"))).toEqual({
        code: null,
        lockedUntil: null,
        failures: [],
      });
      expect(await store().consumeCode(use({ email: MAILBOX, otpId: "otp-x" }))).toEqual({
        kind: "refused",
      });
      expect(
        await store().consumeCode(use({ email: MAILBOX, otpId: "otp-x", bound: true })),
      ).toEqual({ kind: "refused" });
      await store().activateCode(newCode({ email: MAILBOX, userId: "user-mail", otpId: "otp-m" }));
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0, { email: MAILBOX, otpId: "otp-m" }));
      }
      expect((await store().readOtpState(lookup(MAILBOX, "login"))).lockedUntil).toBe(
        T0 + 10 * MINUTE,
      );
      const byId = await store().readOtpState(lookup(BY_ID, "login"));
      expect(byId).toMatchObject({ code: { otpId: "otp-x" }, lockedUntil: null, failures: [] });
      expect(await store().consumeCode(use({ email: BY_ID, otpId: "otp-x" }))).toEqual({
        kind: "consumed",
        userId: "user-ext",
      });
    });

    it("gives each its own user, sessions and authentication", async () => {
      await store().activateCode(newCode({ email: BY_ID, userId: "user-ext" }));
      await store().activateCode(newCode({ email: MAILBOX, userId: "user-mail" }));
      const byId = use({ email: BY_ID });
      expect(await store().consumeCode(byId)).toEqual({ kind: "consumed", userId: "user-ext" });
      expect(await store().findSession(byId.session.tokenHash)).toMatchObject({
        userId: "user-ext",
        email: BY_ID,
      });
      expect(await store().readAuthentication(BY_ID, T0 + MINUTE)).toBe(T0 + MINUTE);
      expect(await store().readAuthentication(MAILBOX, T0 + MINUTE)).toBeNull();
      const mail = use({ email: MAILBOX, now: T0 + 2 * MINUTE });
      expect(await store().consumeCode(mail)).toEqual({ kind: "consumed", userId: "user-mail" });
      // Signing out every session of one account leaves the other's.
      await store().revokeSessions({
        tokenHash: byId.session.tokenHash,
        allOfUser: true,
        now: T0 + 3 * MINUTE,
      });
      expect(await store().readAuthentication(BY_ID, T0 + 3 * MINUTE)).toBeNull();
      expect(await store().readAuthentication(MAILBOX, T0 + 3 * MINUTE)).toBe(T0 + 2 * MINUTE);
    });

    it("keys are case-sensitive: an id in another case is another account", async () => {
      const upper = accountKey({ externalId: "Ann@example.com" });
      await store().activateCode(newCode({ email: BY_ID, otpId: "otp-lower" }));
      await store().activateCode(newCode({ email: upper, otpId: "otp-upper", userId: "user-up" }));
      expect((await store().readOtpState(lookup(BY_ID, "login"))).code?.otpId).toBe("otp-lower");
      expect((await store().readOtpState(lookup(upper, "login"))).code?.otpId).toBe("otp-upper");
    });

    it("scopes idempotency keys per account", async () => {
      const claim = (email: string) =>
        store().claimIdempotencyKey({
          email,
          key: "k1",
          purpose: "login",
          now: T0,
          expiresAt: T0 + 24 * 60 * MINUTE,
        });
      const first = await claim(BY_ID);
      await store().completeIdempotencyKey(BY_ID, "k1", holderOf(first), response);
      expect((await claim(MAILBOX)).kind).toBe("claimed");
      expect(await claim(BY_ID)).toEqual({ kind: "replay", response });
    });

    describe("races, through the service", () => {
      const ID = "user-42";

      it("of many concurrent RequestOtp for one external id, exactly the limit succeed", async () => {
        const { service } = createDomainHarness({ store: store() });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, () => service.requestOtp({ externalId: ID, purpose: "" })),
        );
        const issued = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
        expect(issued).toHaveLength(3);
        for (const o of outcomes) {
          if (o.status === "rejected") {
            expect(o.reason).toMatchObject({ refusal: { kind: "request_limit" } });
          }
        }
        // One code is active afterwards, and it is one of those issued.
        const { code } = await store().readOtpState(
          lookup(accountKey({ externalId: ID }), "login"),
        );
        expect(issued.map((i) => i.otpId)).toContain(code?.otpId);
        // The email spelled like the id was not touched.
        expect(
          (await service.requestOtp({ email: `${ID}@example.com`, purpose: "" })).remainingRequests,
        ).toBe(2);
      });

      it("of many concurrent right codes for one external id, exactly one succeeds", async () => {
        const { service, sender } = createDomainHarness({ store: store() });
        await service.requestOtp({ externalId: ID, purpose: "" });
        const otp = sender.lastCodeForExternalId(ID);
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, () => service.verifyOtp({ externalId: ID, otp, purpose: "" })),
        );
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === "rejected") {
            expect(o.reason).toMatchObject({ refusal: { kind: "already_used" } });
          }
        }
        expect(await refusalOf(service.verifyOtp({ externalId: ID, otp, purpose: "" }))).toEqual({
          kind: "already_used",
        });
      });
    });
  });
}

function holderOf(outcome: IdempotencyOutcome): string {
  if (outcome.kind !== "claimed") {
    throw new Error(`expected a claim, got ${outcome.kind}`);
  }
  return outcome.holder;
}
