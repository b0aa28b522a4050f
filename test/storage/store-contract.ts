import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  CodeUse,
  IdempotencyOutcome,
  IssuedOtp,
  NewCode,
  OtpStore,
} from "../../src/domain/otp-store.js";

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** A store under test and how to dispose of it. */
export interface StoreUnderTest {
  readonly store: OtpStore;
  dispose(): Promise<void>;
}

function newCode(overrides: Partial<NewCode> = {}): NewCode {
  return {
    userId: "user-ann",
    email: "ann@example.com",
    purpose: "login",
    otpId: "otp-1",
    codeHash: new Uint8Array(32).fill(7),
    issuedAt: T0,
    expiresAt: T0 + 5 * MINUTE,
    retainUntil: T0 + 10 * MINUTE,
    ...overrides,
  };
}

let sessions = 0;
/** The token hash of the n-th session `use()` made: 32 bytes holding n. */
const tokenHash = (n: number) => {
  const hash = new Uint8Array(32);
  new DataView(hash.buffer).setUint32(0, n);
  return hash;
};

/** A code use with a session of its own (each attempt brings a new one, as the domain's do). */
const use = (overrides: Partial<CodeUse> = {}): CodeUse => {
  sessions++;
  return {
    email: "ann@example.com",
    purpose: "login",
    otpId: "otp-1",
    now: T0 + MINUTE,
    retainUntil: T0 + 24 * 60 * MINUTE,
    session: {
      sessionId: `session-${sessions}`,
      tokenHash: tokenHash(sessions),
      expiresAt: T0 + 24 * 60 * MINUTE,
    },
    userId: `user-new-${sessions}`,
    ...overrides,
  };
};

const failure = (
  now: number,
  overrides: Partial<Parameters<OtpStore["recordFailure"]>[0]> = {},
) => ({
  email: "ann@example.com",
  purpose: "login",
  now,
  lockAt: 3,
  lockUntil: now + 10 * MINUTE,
  ...overrides,
});

const response: IssuedOtp = {
  otpId: "otp-1",
  expiresAt: T0 + 5 * MINUTE,
  ttlMs: 5 * MINUTE,
  remainingRequests: 2,
  codeLength: 6,
};

/**
 * The behaviour every OtpStore must have, races included. Each backend runs this same suite;
 * `open` gives a fresh, empty store per test.
 */
export function describeStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`${name} store contract`, () => {
    let subject: StoreUnderTest;
    let store: OtpStore;
    beforeEach(async () => {
      subject = await open();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.dispose();
    });

    describe("codes", () => {
      it("has no code and no lock for a pair it never saw", async () => {
        expect(await store.readOtpState("ann@example.com", "login")).toEqual({
          code: null,
          lockedUntil: null,
        });
        expect(await store.readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
      });

      it("keeps an activated code with its hash, not authenticated yet", async () => {
        await store.activateCode(newCode());
        const { code } = await store.readOtpState("ann@example.com", "login");
        expect(code).toMatchObject({
          otpId: "otp-1",
          issuedAt: T0,
          expiresAt: T0 + 5 * MINUTE,
          usedAt: null,
        });
        expect(Buffer.from(code?.codeHash ?? [])).toEqual(Buffer.alloc(32, 7));
        expect(await store.readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
      });

      it("replaces the active code of the same pair only", async () => {
        await store.activateCode(newCode());
        await store.activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
        await store.activateCode(newCode({ otpId: "otp-2" }));
        expect((await store.readOtpState("ann@example.com", "login")).code?.otpId).toBe("otp-2");
        expect((await store.readOtpState("ann@example.com", "reset")).code?.otpId).toBe("otp-r");
      });

      it("consumes a code once, authenticating the user and clearing failures", async () => {
        await store.activateCode(newCode());
        await store.recordFailure(failure(T0));
        expect(await store.consumeCode(use())).toEqual({ kind: "consumed", userId: "user-ann" });
        expect((await store.readOtpState("ann@example.com", "login")).code?.usedAt).toBe(
          T0 + MINUTE,
        );
        expect(await store.readAuthentication("ann@example.com", T0 + MINUTE)).toBe(T0 + MINUTE);
        expect(await store.consumeCode(use({ now: T0 + 2 * MINUTE }))).toEqual({ kind: "used" });
        expect((await store.recordFailure(failure(T0 + 2 * MINUTE))).failures).toBe(1);
      });

      it("does not consume a replaced, missing, expired or locked code", async () => {
        expect(await store.consumeCode(use())).toEqual({ kind: "replaced" });
        await store.activateCode(newCode());
        expect(await store.consumeCode(use({ otpId: "otp-0" }))).toEqual({ kind: "replaced" });
        expect(await store.consumeCode(use({ now: T0 + 5 * MINUTE }))).toEqual({ kind: "expired" });
        for (let i = 0; i < 3; i++) {
          await store.recordFailure(failure(T0));
        }
        expect(await store.consumeCode(use())).toEqual({
          kind: "locked",
          lockedUntil: T0 + 10 * MINUTE,
        });
        expect(await store.readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
      });

      it("lets exactly one of many concurrent consumptions win", async () => {
        await store.activateCode(newCode());
        const uses = Array.from({ length: 50 }, () => use());
        const outcomes = await Promise.all(uses.map((u) => store.consumeCode(u)));
        expect(outcomes.filter((o) => o.kind === "consumed")).toHaveLength(1);
        expect(outcomes.filter((o) => o.kind === "used")).toHaveLength(49);
        // Exactly one session, and it is the winner's.
        const found = await Promise.all(uses.map((u) => store.findSession(u.session.tokenHash)));
        const winner = outcomes.findIndex((o) => o.kind === "consumed");
        expect(found.filter((f) => f !== null)).toHaveLength(1);
        expect(found[winner]?.sessionId).toBe(uses[winner]?.session.sessionId);
      });
    });

    describe("users and sessions", () => {
      it("creates the session with the code's use: its user, email, purpose and times", async () => {
        await store.activateCode(newCode({ purpose: "reset" }));
        const u = use({ purpose: "reset" });
        await store.consumeCode(u);
        expect(await store.findSession(u.session.tokenHash)).toEqual({
          sessionId: u.session.sessionId,
          userId: "user-ann",
          email: "ann@example.com",
          purpose: "reset",
          createdAt: T0 + MINUTE,
          expiresAt: T0 + 24 * 60 * MINUTE,
          revokedAt: null,
        });
      });

      it("creates no session for a code it does not consume", async () => {
        const refused = use();
        await store.consumeCode(refused);
        await store.activateCode(newCode());
        const expired = use({ now: T0 + 5 * MINUTE });
        await store.consumeCode(expired);
        expect(await store.findSession(refused.session.tokenHash)).toBeNull();
        expect(await store.findSession(expired.session.tokenHash)).toBeNull();
        expect(await store.readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
      });

      it("keeps a user's first id through new codes and sessions", async () => {
        await store.activateCode(newCode());
        await store.activateCode(newCode({ otpId: "otp-2", userId: "user-other" }));
        expect(await store.consumeCode(use({ otpId: "otp-2" }))).toEqual({
          kind: "consumed",
          userId: "user-ann",
        });
        await store.activateCode(newCode({ otpId: "otp-3", userId: "user-third" }));
        const again = use({ otpId: "otp-3", now: T0 + 2 * MINUTE });
        await store.consumeCode(again);
        expect((await store.findSession(again.session.tokenHash))?.userId).toBe("user-ann");
        await store.activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
        expect(
          await store.consumeCode(use({ email: "bob@example.com", now: T0 + 2 * MINUTE })),
        ).toEqual({ kind: "consumed", userId: "user-bob" });
      });

      it("finds nothing for an unknown token", async () => {
        expect(await store.findSession(new Uint8Array(32).fill(9))).toBeNull();
      });

      it("answers an email's latest live session, of any purpose", async () => {
        await store.activateCode(newCode());
        const first = use();
        await store.consumeCode(first);
        await store.activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
        const second = use({ purpose: "reset", otpId: "otp-r", now: T0 + 3 * MINUTE });
        await store.consumeCode(second);
        expect(await store.readAuthentication("ann@example.com", T0 + 4 * MINUTE)).toBe(
          T0 + 3 * MINUTE,
        );
        await store.revokeSessions({
          tokenHash: second.session.tokenHash,
          allOfUser: false,
          now: T0 + 5 * MINUTE,
        });
        expect(await store.readAuthentication("ann@example.com", T0 + 5 * MINUTE)).toBe(
          T0 + MINUTE,
        );
        expect(await store.readAuthentication("ann@example.com", T0 + 24 * 60 * MINUTE)).toBeNull();
        expect(await store.readAuthentication("bob@example.com", T0 + 5 * MINUTE)).toBeNull();
      });

      it("revokes one session, keeping its first mark; the others stay live", async () => {
        await store.activateCode(newCode());
        const first = use();
        await store.consumeCode(first);
        await store.activateCode(newCode({ otpId: "otp-2" }));
        const second = use({ otpId: "otp-2" });
        await store.consumeCode(second);
        const revoke = (now: number) =>
          store.revokeSessions({ tokenHash: first.session.tokenHash, allOfUser: false, now });
        await revoke(T0 + 2 * MINUTE);
        await revoke(T0 + 3 * MINUTE);
        expect((await store.findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
        expect((await store.findSession(second.session.tokenHash))?.revokedAt).toBeNull();
        // Unknown tokens are no error.
        await store.revokeSessions({
          tokenHash: new Uint8Array(32).fill(9),
          allOfUser: true,
          now: T0 + 3 * MINUTE,
        });
      });

      it("revokes every session of the user, and only theirs", async () => {
        await store.activateCode(newCode());
        const first = use();
        await store.consumeCode(first);
        await store.activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
        const second = use({ purpose: "reset", otpId: "otp-r" });
        await store.consumeCode(second);
        await store.activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
        const bob = use({ email: "bob@example.com" });
        await store.consumeCode(bob);
        await store.revokeSessions({
          tokenHash: second.session.tokenHash,
          allOfUser: true,
          now: T0 + 2 * MINUTE,
        });
        expect((await store.findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
        expect((await store.findSession(second.session.tokenHash))?.revokedAt).toBe(
          T0 + 2 * MINUTE,
        );
        expect((await store.findSession(bob.session.tokenHash))?.revokedAt).toBeNull();
        expect(await store.readAuthentication("ann@example.com", T0 + 2 * MINUTE)).toBeNull();
        expect(await store.readAuthentication("bob@example.com", T0 + 2 * MINUTE)).toBe(
          T0 + MINUTE,
        );
      });

      it("a token no longer live signs out only itself, even for every session of its user", async () => {
        await store.activateCode(newCode());
        // The first session ends at T0 + 1h, the others a day after T0.
        const short = use();
        const first = { ...short, session: { ...short.session, expiresAt: T0 + 60 * MINUTE } };
        await store.consumeCode(first);
        await store.activateCode(newCode({ otpId: "otp-2" }));
        const second = use({ otpId: "otp-2" });
        await store.consumeCode(second);
        await store.activateCode(newCode({ otpId: "otp-3" }));
        const third = use({ otpId: "otp-3" });
        await store.consumeCode(third);
        const revokeAll = (tokenHash: Uint8Array, now: number) =>
          store.revokeSessions({ tokenHash, allOfUser: true, now });

        // Expired: no authority over the user's other sessions.
        await revokeAll(first.session.tokenHash, T0 + 61 * MINUTE);
        expect((await store.findSession(second.session.tokenHash))?.revokedAt).toBeNull();
        // Revoked: likewise.
        await store.revokeSessions({
          tokenHash: second.session.tokenHash,
          allOfUser: false,
          now: T0 + 62 * MINUTE,
        });
        await revokeAll(second.session.tokenHash, T0 + 64 * MINUTE);
        expect((await store.findSession(third.session.tokenHash))?.revokedAt).toBeNull();
        // Live: every session of the user.
        await revokeAll(third.session.tokenHash, T0 + 65 * MINUTE);
        expect(await store.readAuthentication("ann@example.com", T0 + 65 * MINUTE)).toBeNull();
      });

      it("once a revocation resolves, no lookup racing it afterwards sees the session live", async () => {
        await store.activateCode(newCode());
        const u = use();
        await store.consumeCode(u);
        const lookups: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          lookups.push(store.findSession(u.session.tokenHash));
        }
        await store.revokeSessions({
          tokenHash: u.session.tokenHash,
          allOfUser: false,
          now: T0 + 2 * MINUTE,
        });
        const after = await Promise.all(
          Array.from({ length: 20 }, () => store.findSession(u.session.tokenHash)),
        );
        await Promise.all(lookups);
        for (const session of after) {
          expect(session?.revokedAt).toBe(T0 + 2 * MINUTE);
        }
      });
    });

    describe("failures", () => {
      it("counts up, and the one reaching the limit locks and burns the code", async () => {
        await store.activateCode(newCode());
        expect(await store.recordFailure(failure(T0))).toEqual({ failures: 1, lockedUntil: null });
        expect(await store.recordFailure(failure(T0 + 1))).toEqual({
          failures: 2,
          lockedUntil: null,
        });
        expect(await store.recordFailure(failure(T0 + 2))).toEqual({
          failures: 3,
          lockedUntil: T0 + 2 + 10 * MINUTE,
        });
        expect(await store.readOtpState("ann@example.com", "login")).toEqual({
          code: null,
          lockedUntil: T0 + 2 + 10 * MINUTE,
        });
      });

      it("does not count while locked, and starts from zero when the lock ends", async () => {
        for (let i = 0; i < 3; i++) {
          await store.recordFailure(failure(T0));
        }
        expect(await store.recordFailure(failure(T0 + MINUTE))).toEqual({
          failures: 0,
          lockedUntil: T0 + 10 * MINUTE,
        });
        expect(await store.recordFailure(failure(T0 + 10 * MINUTE))).toEqual({
          failures: 1,
          lockedUntil: null,
        });
      });

      it("forgets a count once the last failure's lockUntil has passed", async () => {
        await store.recordFailure(failure(T0));
        await store.recordFailure(failure(T0 + MINUTE));
        expect((await store.recordFailure(failure(T0 + 11 * MINUTE))).failures).toBe(1);
      });

      it("keeps pairs apart", async () => {
        await store.recordFailure(failure(T0));
        await store.recordFailure(failure(T0));
        expect((await store.recordFailure(failure(T0, { purpose: "reset" }))).failures).toBe(1);
        expect(
          (await store.recordFailure(failure(T0, { email: "bob@example.com" }))).failures,
        ).toBe(1);
      });

      it("counts concurrent failures exactly", async () => {
        await store.activateCode(newCode());
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, () => store.recordFailure(failure(T0))),
        );
        const counted = outcomes.map((o) => o.failures).filter((n) => n > 0);
        expect(counted.sort()).toEqual([1, 2, 3]);
        expect(outcomes.filter((o) => o.lockedUntil === null)).toHaveLength(2);
        expect((await store.readOtpState("ann@example.com", "login")).code).toBeNull();
      });
    });

    describe("rolling-window slots", () => {
      const limit = { count: 3, windowMs: 60 * MINUTE };
      const take = (slotId: string, now: number, bucket = "email:ann@example.com") =>
        store.takeSlot({ bucket, slotId, now, limit });

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
        await store.releaseSlot("email:ann@example.com", "b");
        expect(await take("d", T0 + 1)).toEqual({ granted: true, remaining: 0 });
        await store.releaseSlot("email:nobody", "zzz");
      });

      it("never grants more than the limit to concurrent takers", async () => {
        const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => take(`s${i}`, T0)));
        expect(outcomes.filter((o) => o.granted)).toHaveLength(3);
      });

      describe("unless a pair is locked", () => {
        const ann = { email: "ann@example.com", purpose: "login" };
        const takeUnless = (slotId: string, now: number, unlessLocked = ann) =>
          store.takeSlot({ bucket: "email:ann@example.com", slotId, now, limit, unlessLocked });
        /** Three failures at `now`: ann's login is locked until now + 10 minutes. */
        const lock = async (now: number) => {
          for (let i = 0; i < 3; i++) {
            await store.recordFailure(failure(now));
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

    describe("idempotency keys", () => {
      const claim = (now = T0, purpose = "login", signal?: AbortSignal) =>
        store.claimIdempotencyKey({
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
        await store.completeIdempotencyKey("ann@example.com", "k1", holder, response);
        expect(await claim(T0 + MINUTE)).toEqual({ kind: "replay", response });
        expect(await claim(T0 + MINUTE, "reset")).toEqual({ kind: "mismatch" });
      });

      it("frees a released key and an expired one", async () => {
        await store.releaseIdempotencyKey("ann@example.com", "k1", holderOf(await claim()));
        const holder = holderOf(await claim());
        await store.completeIdempotencyKey("ann@example.com", "k1", holder, response);
        expect((await claim(T0 + 24 * 60 * MINUTE)).kind).toBe("claimed");
      });

      it("gives each claim its own holder, and only the holder completes or releases", async () => {
        const holder = holderOf(await claim());
        const other = holderOf(
          await store.claimIdempotencyKey({
            email: "ann@example.com",
            key: "k2",
            purpose: "login",
            now: T0,
            expiresAt: T0 + MINUTE,
          }),
        );
        expect(other).not.toBe(holder);
        await store.releaseIdempotencyKey("ann@example.com", "k1", other);
        await store.completeIdempotencyKey("ann@example.com", "k1", other, {
          ...response,
          otpId: "not-the-holder",
        });
        await store.completeIdempotencyKey("ann@example.com", "k1", holder, response);
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
            await store.claimIdempotencyKey({
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
              await store.completeIdempotencyKey("ann@example.com", "k1", outcome.holder, response);
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
                await store.releaseIdempotencyKey("ann@example.com", "k1", outcome.holder);
              } else {
                await store.completeIdempotencyKey(
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

    describe("purging", () => {
      it("forgets what is past its retention and keeps the rest", async () => {
        await store.activateCode(newCode());
        await store.activateCode(
          newCode({ email: "bob@example.com", userId: "user-bob", retainUntil: T0 + 60 * MINUTE }),
        );
        await store.recordFailure(failure(T0, { email: "bob@example.com" }));
        await store.takeSlot({
          bucket: "email:ann@example.com",
          slotId: "a",
          now: T0,
          limit: { count: 1, windowMs: 5 * MINUTE },
        });
        const claimed = await store.claimIdempotencyKey({
          email: "ann@example.com",
          key: "k",
          purpose: "login",
          now: T0,
          expiresAt: T0 + 5 * MINUTE,
        });
        if (claimed.kind === "claimed") {
          await store.completeIdempotencyKey("ann@example.com", "k", claimed.holder, response);
        }

        const purged = await store.purgeExpired(T0 + 10 * MINUTE);
        expect(purged).toBeGreaterThanOrEqual(4);
        expect((await store.readOtpState("ann@example.com", "login")).code).toBeNull();
        expect((await store.readOtpState("bob@example.com", "login")).code?.otpId).toBe("otp-1");
        expect(
          await store.takeSlot({
            bucket: "email:ann@example.com",
            slotId: "b",
            now: T0 + 10 * MINUTE,
            limit: { count: 1, windowMs: 5 * MINUTE },
          }),
        ).toEqual({ granted: true, remaining: 0 });
        expect(await store.purgeExpired(T0 + 10 * MINUTE)).toBe(0);
        expect(await store.purgeExpired(T0 + 60 * MINUTE)).toBeGreaterThanOrEqual(1);
        expect((await store.readOtpState("bob@example.com", "login")).code).toBeNull();
      });

      it("forgets a session, revoked or not, once it has expired", async () => {
        await store.activateCode(newCode());
        const u = use();
        await store.consumeCode(u);
        await store.revokeSessions({
          tokenHash: u.session.tokenHash,
          allOfUser: false,
          now: T0 + 2 * MINUTE,
        });
        await store.purgeExpired(T0 + 24 * 60 * MINUTE - 1);
        expect(await store.findSession(u.session.tokenHash)).not.toBeNull();
        expect(await store.purgeExpired(T0 + 24 * 60 * MINUTE)).toBeGreaterThanOrEqual(1);
        expect(await store.findSession(u.session.tokenHash)).toBeNull();
      });

      it("keeps an authentication for its whole retention", async () => {
        await store.activateCode(newCode());
        await store.consumeCode(use());
        await store.purgeExpired(T0 + 23 * 60 * MINUTE);
        expect(await store.readAuthentication("ann@example.com", T0 + 23 * 60 * MINUTE)).toBe(
          T0 + MINUTE,
        );
        await store.purgeExpired(T0 + 25 * 60 * MINUTE);
        expect(await store.readAuthentication("ann@example.com", T0 + 2 * MINUTE)).toBeNull();
        expect(await store.findSession(tokenHash(sessions))).toBeNull();
      });
    });
  });
}
