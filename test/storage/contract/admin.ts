import { describe, expect, it } from "vitest";
import type { AccountBuckets } from "../../../src/domain/account.js";
import type { CodeUse, NewCode } from "../../../src/domain/otp-store.js";
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

const ANN = "ann@example.com";
const BOB = "bob@example.com";
const DAY = 24 * 60 * MINUTE;
const limit = { count: 3, windowMs: 60 * MINUTE };
const annBuckets: AccountBuckets = { names: [`email:${ANN}`], prefixes: [`email:${ANN} `] };
const annNetworks = [`email:${ANN}`, `email:${ANN} ip:192.0.2.7`, `email:${ANN} ip:198.51.100.9`];

/** Takes slot `slotId` in `bucket` under the contract's limit. */
const take = (store: CurrentStore, bucket: string, slotId: string, now = T0) =>
  store().takeSlots({ slotId, now, limits: [{ bucket, limit }] });

/** Ann's code and use, as another account's: the same fixtures under `email`. */
const codeOf = (email: string, overrides: Partial<NewCode> = {}) =>
  newCode({ email, userId: `user-${email}`, ...overrides });
const useOf = (email: string, overrides: Partial<CodeUse> = {}) => use({ email, ...overrides });

/**
 * The operator's steps on a whole user (findUser, revokeUserSessions, eraseUser), with the races
 * SPEC.md's AdminService asks for: ending every session racing a verification leaves no live
 * session created before the revocation returned, and erasing racing a new code leaves nothing or
 * a new user, never a code or session without its user record.
 */
export function describeAdminContract(store: CurrentStore): void {
  /** Ann with a code, used, and so one live session; her user id is `user-ann`. */
  async function annSignedIn(): Promise<CodeUse> {
    await store().activateCode(newCode());
    const u = use();
    expect((await store().consumeCode(u)).kind).toBe("consumed");
    return u;
  }

  describe("finding a user", () => {
    it("knows no user before a code was asked for, by account or by id", async () => {
      expect(await store().findUser({ email: ANN }, T0)).toBeNull();
      expect(await store().findUser({ userId: "user-ann" }, T0)).toBeNull();
    });

    it("answers the user record a code made: when, and never authenticated", async () => {
      await store().activateCode(newCode());
      const expected = {
        userId: "user-ann",
        email: ANN,
        createdAt: T0,
        lastAuthenticatedAt: null,
        liveSessions: 0,
      };
      expect(await store().findUser({ email: ANN }, T0)).toEqual(expected);
      expect(await store().findUser({ userId: "user-ann" }, T0)).toEqual(expected);
    });

    it("neither counts nor ends a session idle past the cutoff (SESSION_IDLE_TTL)", async () => {
      await annSignedIn();
      // The session was last seen when created, at T0 + 1 minute.
      const idle = T0 + MINUTE;
      expect(await store().findUser({ email: ANN }, T0 + 2 * MINUTE, idle)).toMatchObject({
        liveSessions: 0,
      });
      expect(await store().revokeUserSessions({ email: ANN }, T0 + 2 * MINUTE, idle)).toBe(0);
      expect(await store().findUser({ email: ANN }, T0 + 2 * MINUTE, idle - 1)).toMatchObject({
        liveSessions: 1,
      });
      expect(
        await store().revokeUserSessions({ userId: "user-ann" }, T0 + 2 * MINUTE, idle - 1),
      ).toBe(1);
    });

    it("counts live sessions only, and keeps the latest authentication", async () => {
      const first = await annSignedIn();
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 2 * MINUTE }));
      await store().consumeCode(use({ otpId: "otp-2", now: T0 + 3 * MINUTE }));
      await store().activateCode(newCode({ otpId: "otp-3", purpose: "reset" }));
      await store().consumeCode(
        use({
          otpId: "otp-3",
          purpose: "reset",
          now: T0 + 4 * MINUTE,
          session: {
            sessionId: "short",
            tokenHash: new Uint8Array(32).fill(3),
            expiresAt: T0 + 5 * MINUTE,
            clientAddress: "",
            userAgent: "",
          },
        }),
      );
      await store().revokeSessions({
        tokenHash: first.session.tokenHash,
        allOfUser: false,
        now: T0 + 5 * MINUTE,
      });
      // Of three sessions: one revoked, one expired at T0 + 5 minutes, one live.
      expect(await store().findUser({ email: ANN }, T0 + 5 * MINUTE)).toEqual({
        userId: "user-ann",
        email: ANN,
        createdAt: T0,
        lastAuthenticatedAt: T0 + 4 * MINUTE,
        liveSessions: 1,
      });
    });
  });

  describe("ending every session of a user", () => {
    it("ends every live session, by account or by id, and says how many", async () => {
      const first = await annSignedIn();
      await store().activateCode(newCode({ otpId: "otp-2", purpose: "reset" }));
      const second = use({ otpId: "otp-2", purpose: "reset" });
      await store().consumeCode(second);
      await store().activateCode(codeOf(BOB));
      const bobs = useOf(BOB);
      await store().consumeCode(bobs);

      expect(await store().revokeUserSessions({ userId: "user-ann" }, T0 + 2 * MINUTE)).toBe(2);
      for (const u of [first, second]) {
        expect((await store().findSession(u.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
      }
      expect(await store().readAuthentication(ANN, T0 + 2 * MINUTE)).toBeNull();
      // Bob's are his; a second call finds nothing left to end.
      expect((await store().findSession(bobs.session.tokenHash))?.revokedAt).toBeNull();
      expect(await store().revokeUserSessions({ email: ANN }, T0 + 3 * MINUTE)).toBe(0);
      expect((await store().findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
      expect(await store().revokeUserSessions({ email: BOB }, T0 + 3 * MINUTE)).toBe(1);
    });

    it("ends nothing for an unknown user, and does not count expired sessions", async () => {
      expect(await store().revokeUserSessions({ email: ANN }, T0)).toBe(0);
      expect(await store().revokeUserSessions({ userId: "nobody" }, T0)).toBe(0);
      const u = await annSignedIn();
      expect(await store().revokeUserSessions({ email: ANN }, T0 + 2 * DAY)).toBe(0);
      expect((await store().findSession(u.session.tokenHash))?.revokedAt).toBeNull();
    });

    it("racing verifications, leaves no live session that was created before it returned", async () => {
      // Each round: a live session S0, then a verification (its session S) and the revocation
      // race, while lookups watch. A lookup is one snapshot: one that sees S0 and S live at once
      // saw S committed before the revocation was (which ends S0 whatever happens), so S must be
      // ended too. Whether a verification's answer reached us before the revocation's says
      // nothing by itself: a database may send two answers in either order once both committed.
      let witnessed = 0;
      for (let round = 0; round < 100; round++) {
        const email = `race-${round}@example.com`;
        await store().activateCode(codeOf(email));
        await store().consumeCode(useOf(email));
        await store().activateCode(codeOf(email, { otpId: "otp-2", purpose: "reset" }));
        const u = useOf(email, { otpId: "otp-2", purpose: "reset" });
        let settled = false;
        let sawBoth = false;
        // Issued in this order so that a store whose steps finish at once (memory) is watched
        // between them too.
        const consuming = store().consumeCode(u);
        const watching = (async () => {
          while (!settled) {
            const user = await store().findUser({ email }, T0 + MINUTE);
            sawBoth ||= user?.liveSessions === 2;
          }
        })();
        const [outcome, count] = await Promise.all([
          consuming,
          // By account and by id in turn: each must take the account's turn.
          store().revokeUserSessions(
            round % 2 === 0 ? { email } : { userId: `user-${email}` },
            T0 + MINUTE,
          ),
        ]).finally(() => {
          settled = true;
        });
        await watching;
        expect(outcome.kind).toBe("consumed");
        const session = await store().findSession(u.session.tokenHash);
        const ended = session?.revokedAt === T0 + MINUTE;
        if (sawBoth) {
          witnessed++;
          expect({ round, ended }).toEqual({ round, ended: true });
        }
        expect({ round, count }).toEqual({ round, count: ended ? 2 : 1 });
      }
      // The watch must have seen the race from inside at least once, or it proved nothing.
      expect(witnessed).toBeGreaterThan(0);
    });
  });

  describe("erasing a user", () => {
    /** Ann with everything a user leaves: a session, a live code, failures, a key, windows. */
    async function annWithEverything(): Promise<CodeUse> {
      const u = await annSignedIn();
      await store().activateCode(newCode({ otpId: "otp-2", purpose: "reset" }));
      await store().recordFailure(
        failure(T0 + MINUTE, { purpose: "reset", otpId: "otp-2", lockUntil: T0 + 11 * MINUTE }),
      );
      const claim = await store().claimIdempotencyKey({
        email: ANN,
        key: "key-1",
        purpose: "login",
        now: T0,
        expiresAt: T0 + DAY,
      });
      if (claim.kind !== "claimed") {
        throw new Error("expected a fresh key");
      }
      await store().completeIdempotencyKey(ANN, "key-1", claim.holder, response);
      for (const bucket of annNetworks) {
        await take(store, bucket, "slot-1");
      }
      return u;
    }

    it("erases the user record and everything kept under the account's name", async () => {
      const u = await annWithEverything();
      expect(await store().eraseUser({ email: ANN, buckets: annBuckets, now: T0 + MINUTE })).toBe(
        true,
      );

      expect(await store().findUser({ email: ANN }, T0 + 2 * MINUTE)).toBeNull();
      expect(await store().findUser({ userId: "user-ann" }, T0 + 2 * MINUTE)).toBeNull();
      for (const purpose of ["login", "reset"]) {
        expect(await store().readOtpState(lookup(ANN, purpose))).toEqual({
          code: null,
          lockedUntil: null,
          failures: [],
        });
      }
      expect(await store().findSession(u.session.tokenHash)).toBeNull();
      expect(await store().findSessionById(u.session.sessionId)).toBeNull();
      expect(await store().readAuthentication(ANN, T0 + 2 * MINUTE)).toBeNull();
      // The key replays nothing any more; every window is whole again.
      expect(
        (
          await store().claimIdempotencyKey({
            email: ANN,
            key: "key-1",
            purpose: "login",
            now: T0 + 2 * MINUTE,
            expiresAt: T0 + DAY,
          })
        ).kind,
      ).toBe("claimed");
      for (const bucket of annNetworks) {
        expect(await take(store, bucket, "slot-2")).toEqual({ granted: true, remaining: [2] });
      }
      // A failure count starts again from one: the old one went with the user, and so did the
      // account's failures.
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-3" }));
      expect(
        await store().recordFailure(
          failure(T0 + 2 * MINUTE, {
            purpose: "reset",
            otpId: "otp-3",
            lockUntil: T0 + 12 * MINUTE,
          }),
        ),
      ).toMatchObject({
        counted: true,
        failures: 1,
        lockedUntil: null,
        accountFailures: [{ at: T0 + 2 * MINUTE }],
      });
    });

    it("leaves other accounts alone, even those whose names start alike", async () => {
      await annWithEverything();
      const lookalike = "ann@example.com.au";
      await store().activateCode(codeOf(lookalike));
      const theirs = useOf(lookalike);
      await store().consumeCode(theirs);
      await take(store, `email:${lookalike}`, "s");
      await take(store, "ip:192.0.2.1", "s");

      await store().eraseUser({ email: ANN, buckets: annBuckets, now: T0 + MINUTE });

      expect(await store().findUser({ email: lookalike }, T0 + MINUTE)).toMatchObject({
        userId: `user-${lookalike}`,
        liveSessions: 1,
      });
      expect((await store().readOtpState(lookup(lookalike, "login"))).code?.otpId).toBe("otp-1");
      expect(await store().findSession(theirs.session.tokenHash)).not.toBeNull();
      for (const bucket of [`email:${lookalike}`, "ip:192.0.2.1"]) {
        expect(await take(store, bucket, "t")).toEqual({ granted: true, remaining: [1] });
      }
    });

    it("is idempotent, and erases nothing when named by an id the account no longer has", async () => {
      expect(await store().eraseUser({ email: ANN, buckets: annBuckets, now: T0 + MINUTE })).toBe(
        false,
      );
      await annSignedIn();
      expect(
        await store().eraseUser({
          email: ANN,
          userId: "user-someone-else",
          buckets: annBuckets,
          now: T0 + MINUTE,
        }),
      ).toBe(false);
      expect(await store().findUser({ email: ANN }, T0 + MINUTE)).toMatchObject({
        userId: "user-ann",
        liveSessions: 1,
      });
      expect(
        await store().eraseUser({
          email: ANN,
          userId: "user-ann",
          buckets: annBuckets,
          now: T0 + MINUTE,
        }),
      ).toBe(true);
      expect(await store().eraseUser({ email: ANN, buckets: annBuckets, now: T0 + MINUTE })).toBe(
        false,
      );
    });

    it("a code asked for after the erasure makes a new user, with a new id", async () => {
      await annSignedIn();
      await store().eraseUser({ email: ANN, buckets: annBuckets, now: T0 + MINUTE });
      await store().activateCode(newCode({ userId: "user-ann-again", issuedAt: T0 + 2 * MINUTE }));
      expect(await store().findUser({ email: ANN }, T0 + 2 * MINUTE)).toEqual({
        userId: "user-ann-again",
        email: ANN,
        createdAt: T0 + 2 * MINUTE,
        lastAuthenticatedAt: null,
        liveSessions: 0,
      });
    });

    it("racing new codes, leaves nothing or a new user, never a code without its user", async () => {
      for (let round = 0; round < 300; round++) {
        const email = `erase-${round}@example.com`;
        await store().activateCode(codeOf(email));
        const old = useOf(email);
        await store().consumeCode(old);
        // Another purpose (a new row) or the same one (the row replaced), in turn.
        const purpose = round % 2 === 0 ? "reset" : "login";
        const fresh = codeOf(email, { userId: `new-${round}`, otpId: "otp-new", purpose });
        const [, erased] = await Promise.all([
          store().activateCode(fresh),
          store().eraseUser({
            email,
            buckets: { names: [`email:${email}`], prefixes: [] },
            now: T0 + MINUTE,
          }),
        ]);
        expect(erased).toBe(true);
        const user = await store().findUser({ email }, T0 + MINUTE);
        const codes = [
          (await store().readOtpState(lookup(email, "login"))).code?.otpId ?? null,
          (await store().readOtpState(lookup(email, "reset"))).code?.otpId ?? null,
        ];
        const left =
          user === null
            ? { round, user: null, codes }
            : { round, user: user.userId, sessions: user.liveSessions, codes };
        const newUser = {
          round,
          user: `new-${round}`,
          sessions: 0,
          codes: purpose === "login" ? ["otp-new", null] : [null, "otp-new"],
        };
        expect([{ round, user: null, codes: [null, null] }, newUser]).toContainEqual(left);
        expect(await store().findSession(old.session.tokenHash)).toBeNull();
      }
    });

    it("racing a verification, leaves no session behind", async () => {
      for (let round = 0; round < 30; round++) {
        const email = `verify-${round}@example.com`;
        await store().activateCode(codeOf(email));
        const u = useOf(email);
        const [outcome] = await Promise.all([
          store().consumeCode(u),
          store().eraseUser({ email, buckets: { names: [], prefixes: [] }, now: T0 + MINUTE }),
        ]);
        // Refused when the erasure came first: the code went with it.
        expect(["consumed", "refused"]).toContain(outcome.kind);
        expect({ round, session: await store().findSession(u.session.tokenHash) }).toEqual({
          round,
          session: null,
        });
        expect(await store().findUser({ email }, T0 + MINUTE)).toBeNull();
      }
    });
  });
}
