import { describe, expect, it } from "vitest";
import { keyedCodeHash } from "../../../src/domain/otp-code.js";
import {
  CODE_KEY,
  type CurrentStore,
  countOf,
  failure,
  gate,
  keyed,
  lookup,
  MINUTE,
  newCode,
  T0,
  use,
} from "./fixtures.js";

const ANN = "ann@example.com";

/** Ann's login code `otpId`, issued at `at`: live for 5 minutes from then. */
const later = (otpId: string, at: number) =>
  newCode({ otpId, issuedAt: at, expiresAt: at + 5 * MINUTE, retainUntil: at + 10 * MINUTE });

/**
 * Codes and failed attempts (activateCode, consumeCode, recordFailure, readOtpState): several
 * codes of a pair live at once, each verifiable by its otp_id and judged alone; unbound attempts
 * mean the latest code under the pair's lock; a code is used at most once, even by concurrent
 * uses; failures are counted exactly, on the code (bound) or the pair (unbound), and on the
 * account, whose cap the steps themselves apply.
 */
export function describeCodeContract(store: CurrentStore): void {
  describe("codes", () => {
    it("has no code, no lock and no failures for a pair it never saw", async () => {
      expect(await store().readOtpState(lookup())).toEqual({
        code: null,
        lockedUntil: null,
        failures: [],
      });
      expect(await store().readAuthentication(ANN, T0 + MINUTE)).toBeNull();
    });

    it("keeps an activated code with its hash, not authenticated yet", async () => {
      await store().activateCode(newCode());
      const { code } = await store().readOtpState(lookup());
      expect(code).toMatchObject({
        otpId: "otp-1",
        issuedAt: T0,
        expiresAt: T0 + 5 * MINUTE,
        usedAt: null,
        failures: 0,
      });
      expect(Buffer.from(code?.codeHash ?? [])).toEqual(Buffer.alloc(32, 7));
      expect(await store().readAuthentication(ANN, T0 + MINUTE)).toBeNull();
    });

    it("keeps every code of a pair: the latest for unbound reads, each by its otp_id", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 1 }));
      expect((await store().readOtpState(lookup())).code?.otpId).toBe("otp-2");
      expect((await store().readOtpState(lookup(ANN, "reset"))).code?.otpId).toBe("otp-r");
      expect((await store().readOtpState(lookup(ANN, "login", "otp-1"))).code?.otpId).toBe("otp-1");
      // An otp_id of another pair or account is no code of this one.
      expect((await store().readOtpState(lookup(ANN, "login", "otp-r"))).code).toBeNull();
      expect(
        (await store().readOtpState(lookup("bob@example.com", "login", "otp-1"))).code,
      ).toBeNull();
    });

    it("takes the last activated code as the latest, even within one millisecond", async () => {
      for (const otpId of ["otp-9", "otp-10", "otp-b", "otp-a"]) {
        await store().activateCode(newCode({ otpId }));
        expect((await store().readOtpState(lookup())).code?.otpId).toBe(otpId);
      }
    });

    it("consumes a code once, authenticating the user and clearing unbound failures", async () => {
      await store().activateCode(newCode());
      await store().recordFailure(failure(T0));
      expect(await store().consumeCode(use())).toEqual({ kind: "consumed", userId: "user-ann" });
      expect((await store().readOtpState(lookup())).code?.usedAt).toBe(T0 + MINUTE);
      expect(await store().readAuthentication(ANN, T0 + MINUTE)).toBe(T0 + MINUTE);
      expect(await store().consumeCode(use({ now: T0 + 2 * MINUTE }))).toEqual({
        kind: "refused",
      });
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 2 * MINUTE }));
      expect(
        countOf(await store().recordFailure(failure(T0 + 2 * MINUTE, { otpId: "otp-2" }))),
      ).toBe(1);
    });

    it("does not consume a missing, replaced (unbound), expired or unbound-locked code", async () => {
      expect(await store().consumeCode(use())).toEqual({ kind: "refused" });
      await store().activateCode(newCode());
      expect(await store().consumeCode(use({ otpId: "otp-0" }))).toEqual({ kind: "refused" });
      expect(await store().consumeCode(use({ now: T0 + 5 * MINUTE }))).toEqual({
        kind: "refused",
      });
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 1 }));
      // Unbound means the latest: the older code is replaced for it...
      expect(await store().consumeCode(use())).toEqual({ kind: "refused" });
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0, { otpId: "otp-2" }));
      }
      // ...and the unbound lock refuses the latest too.
      expect(await store().consumeCode(use({ otpId: "otp-2" }))).toEqual({ kind: "refused" });
      expect(await store().readAuthentication(ANN, T0 + MINUTE)).toBeNull();
    });

    it("consumes a bound code although newer codes came and unbound attempts locked the pair", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 1 }));
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0 + 2, { otpId: "otp-2" }));
      }
      expect((await store().readOtpState(lookup())).lockedUntil).toBe(T0 + 2 + 10 * MINUTE);
      expect(await store().consumeCode(use({ bound: true }))).toEqual({
        kind: "consumed",
        userId: "user-ann",
      });
      // The lock burned otp-2 for unbound verification only: bound, it is still judged.
      expect((await store().readOtpState(lookup(ANN, "login", "otp-2"))).code?.otpId).toBe("otp-2");
      expect(
        await store().consumeCode(use({ otpId: "otp-2", bound: true, now: T0 + 2 * MINUTE })),
      ).toMatchObject({ kind: "consumed" });
    });

    it("judges a code by its key: the right one uses it, a wrong one is counted against it", async () => {
      await store().activateCode(newCode());
      const wrong = new Uint8Array(CODE_KEY);
      wrong[31] = 8;
      // Bound, against the code's own attempts; unbound (named or the latest), the pair's count.
      expect(await store().consumeCode(use({ bound: true, keyed: keyed(wrong) }))).toEqual({
        kind: "mismatch",
        failure: {
          counted: true,
          failures: 1,
          lockedUntil: null,
          accountFailures: [{ at: T0 + MINUTE, network: "ip:203.0.113.7" }],
        },
        expiresAt: T0 + 5 * MINUTE,
      });
      const short = use({ otpId: null, keyed: keyed(CODE_KEY.subarray(0, 31)) });
      expect(await store().consumeCode(short)).toMatchObject({
        kind: "mismatch",
        failure: { failures: 1, lockedUntil: null, accountFailures: [{}, {}] },
      });
      expect(await store().consumeCode(use({ keyed: keyed(new Uint8Array(0)) }))).toMatchObject({
        kind: "mismatch",
        failure: { failures: 2, lockedUntil: null, accountFailures: [{}, {}, {}] },
      });
      // Without a key, no otp_id names no code.
      expect(await store().consumeCode(use({ otpId: null }))).toEqual({ kind: "refused" });
      const state = await store().readOtpState(lookup(ANN, "login", "otp-1"));
      expect(state.code).toMatchObject({ usedAt: null, failures: 1 });
      expect(state.failures).toHaveLength(3);
      expect(await store().readAuthentication(ANN, T0 + MINUTE)).toBeNull();
      const right = use({ bound: true, keyed: keyed() });
      expect(await store().consumeCode(right)).toEqual({ kind: "consumed", userId: "user-ann" });
      expect(await store().findSession(right.session.tokenHash)).not.toBeNull();
      // The key lifts no other condition: a used code stays used, and is no longer guessed at.
      for (const named of [{ bound: true }, { bound: false, otpId: null }]) {
        for (const key of [CODE_KEY, wrong]) {
          expect(await store().consumeCode(use({ ...named, keyed: keyed(key) }))).toEqual({
            kind: "refused",
          });
        }
      }
      expect((await store().readOtpState(lookup())).failures).toHaveLength(3);
    });

    it("finds the pair's latest code by its key alone, unbound, under the unbound lane's rules", async () => {
      const other = new Uint8Array(32).fill(1);
      await store().activateCode(newCode());
      await store().activateCode({
        ...later("otp-2", T0 + 1),
        keyedHash: keyedCodeHash(other, "otp-2"),
      });
      await store().activateCode(later("otp-3", T0 + 2));
      // Unbound means the latest: a key that only an older code's hash answers is a wrong code.
      const guess = use({ otpId: null, keyed: keyed(other), now: T0 + 3 });
      expect(await store().consumeCode(guess)).toMatchObject({
        kind: "mismatch",
        failure: { failures: 1 },
        expiresAt: T0 + 2 + 5 * MINUTE,
      });
      // Two more lock the pair and burn its latest code for unbound verification.
      for (const at of [T0 + 4, T0 + 5]) {
        await store().recordFailure(failure(at, { otpId: "otp-3" }));
      }
      for (const key of [CODE_KEY, other]) {
        expect(await store().consumeCode(use({ otpId: null, keyed: keyed(key) }))).toEqual({
          kind: "refused",
        });
      }
      // Once the lock is over, a newer code is the latest, and its key finds it; no other is used.
      const now = T0 + 11 * MINUTE;
      await store().activateCode(later("otp-4", now));
      const fresh = use({ otpId: null, keyed: keyed(), now });
      expect(await store().consumeCode(fresh)).toEqual({ kind: "consumed", userId: "user-ann" });
      expect(await store().findSession(fresh.session.tokenHash)).not.toBeNull();
      for (const [otpId, usedAt] of [
        ["otp-1", null],
        ["otp-2", null],
        ["otp-3", null],
        ["otp-4", now],
      ] as const) {
        const state = await store().readOtpState(lookup(ANN, "login", otpId, now));
        expect(state.code?.usedAt).toBe(usedAt);
      }
    });

    it("lets exactly one of many concurrent consumptions win, bound or not", async () => {
      await store().activateCode(newCode());
      // Some compare the code themselves, others have it compared by its key.
      const uses = Array.from({ length: 50 }, (_, i) =>
        use(
          i % 2 === 0
            ? { bound: true, ...(i % 4 === 0 ? { keyed: keyed() } : {}) }
            : { bound: false, ...(i % 4 === 1 ? { otpId: null, keyed: keyed() } : {}) },
        ),
      );
      const outcomes = await Promise.all(uses.map((u) => store().consumeCode(u)));
      expect(outcomes.filter((o) => o.kind === "consumed")).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === "refused")).toHaveLength(49);
      // Exactly one session, and it is the winner's.
      const found = await Promise.all(uses.map((u) => store().findSession(u.session.tokenHash)));
      const winner = outcomes.findIndex((o) => o.kind === "consumed");
      expect(found.filter((f) => f !== null)).toHaveLength(1);
      expect(found[winner]?.sessionId).toBe(uses[winner]?.session.sessionId);
    });

    it.each([
      ["bound", { bound: true }],
      ["unbound", { bound: false, otpId: null }],
    ] as const)(
      "counts every concurrent %s guess it compares: a code takes no more than its attempts",
      async (_, named) => {
        await store().activateCode(newCode());
        const guess = (i: number) => {
          const key = new Uint8Array(32).fill(100 + i);
          return use({ ...named, keyed: keyed(key) });
        };
        // Twenty wrong guesses at once: three are compared and counted, the third kills (bound) or
        // locks (unbound), and the rest find nothing left to guess at.
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store().consumeCode(guess(i))),
        );
        expect(outcomes.filter((o) => o.kind === "mismatch")).toHaveLength(3);
        expect(outcomes.filter((o) => o.kind === "refused")).toHaveLength(17);
        const state = await store().readOtpState(lookup(ANN, "login", "otp-1"));
        expect(state.failures).toHaveLength(3);
        // And the right code among wrong ones is judged in their order, never beyond the third.
        await store().activateCode(later("otp-2", T0 + 11 * MINUTE));
        const at = T0 + 22 * MINUTE;
        await store().activateCode(later("otp-3", at));
        const mixed = Array.from({ length: 20 }, (_, i) =>
          use({
            ...named,
            ...(named.bound ? { otpId: "otp-3" } : {}),
            now: at + MINUTE,
            keyed: keyed(i === 10 ? CODE_KEY : new Uint8Array(32).fill(100 + i), at + 11 * MINUTE),
          }),
        );
        const judged = (await Promise.all(mixed.map((u) => store().consumeCode(u)))).filter(
          (o) => o.kind !== "refused",
        );
        expect(judged.length).toBeLessThanOrEqual(3);
      },
    );
  });

  describe("unbound failures", () => {
    it("are not counted for an account without a code", async () => {
      expect(await store().recordFailure(failure(T0))).toEqual({ counted: false });
    });

    it("count up, and the one reaching the limit locks and burns the latest code for unbound reads", async () => {
      await store().activateCode(newCode());
      expect(await store().recordFailure(failure(T0))).toMatchObject({
        counted: true,
        failures: 1,
        lockedUntil: null,
      });
      expect(await store().recordFailure(failure(T0 + 1))).toMatchObject({
        failures: 2,
        lockedUntil: null,
      });
      expect(await store().recordFailure(failure(T0 + 2))).toMatchObject({
        failures: 3,
        lockedUntil: T0 + 2 + 10 * MINUTE,
      });
      const unbound = await store().readOtpState(lookup());
      expect(unbound.code).toBeNull();
      expect(unbound.lockedUntil).toBe(T0 + 2 + 10 * MINUTE);
      // Bound, the code is still there, with none of the unbound failures against it.
      expect((await store().readOtpState(lookup(ANN, "login", "otp-1"))).code?.failures).toBe(0);
    });

    it("are not counted while locked, and start from zero when the lock ends", async () => {
      await store().activateCode(newCode());
      for (let i = 0; i < 3; i++) {
        await store().recordFailure(failure(T0));
      }
      // The lock burned otp-1 for unbound attempts; a code asked for during the lock...
      await store().activateCode(later("otp-2", T0 + 9 * MINUTE));
      expect(await store().recordFailure(failure(T0 + 9 * MINUTE, { otpId: "otp-2" }))).toEqual({
        counted: false,
      });
      // ...takes unbound attempts once it ends, counted from zero; the burned one takes none.
      expect(await store().recordFailure(failure(T0 + 10 * MINUTE))).toEqual({ counted: false });
      expect(
        await store().recordFailure(failure(T0 + 10 * MINUTE, { otpId: "otp-2" })),
      ).toMatchObject({ failures: 1, lockedUntil: null });
    });

    it("are not counted once the code compared is no longer the latest, or no longer live", async () => {
      await store().activateCode(newCode());
      await store().activateCode(later("otp-2", T0 + 1));
      expect(await store().recordFailure(failure(T0 + 2))).toEqual({ counted: false });
      await store().consumeCode(use({ otpId: "otp-2" }));
      expect(await store().recordFailure(failure(T0 + 2, { otpId: "otp-2" }))).toEqual({
        counted: false,
      });
      expect((await store().readOtpState(lookup())).failures).toEqual([]);
    });

    it("are forgotten once the last failure's lockUntil has passed", async () => {
      await store().activateCode(newCode());
      await store().recordFailure(failure(T0));
      await store().recordFailure(failure(T0 + MINUTE));
      await store().activateCode(later("otp-2", T0 + 10 * MINUTE));
      expect(
        countOf(await store().recordFailure(failure(T0 + 11 * MINUTE, { otpId: "otp-2" }))),
      ).toBe(1);
    });

    it("keep pairs apart", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ purpose: "reset" }));
      await store().activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
      await store().recordFailure(failure(T0));
      await store().recordFailure(failure(T0));
      expect(countOf(await store().recordFailure(failure(T0, { purpose: "reset" })))).toBe(1);
      expect(countOf(await store().recordFailure(failure(T0, { email: "bob@example.com" })))).toBe(
        1,
      );
    });

    it("are counted exactly when concurrent", async () => {
      await store().activateCode(newCode());
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () => store().recordFailure(failure(T0))),
      );
      expect(
        outcomes
          .map(countOf)
          .filter((n) => n > 0)
          .sort(),
      ).toEqual([1, 2, 3]);
      expect((await store().readOtpState(lookup())).code).toBeNull();
      expect((await store().readOtpState(lookup())).failures).toHaveLength(3);
    });
  });

  describe("bound failures", () => {
    const bound = (now: number, otpId = "otp-1") => failure(now, { otpId, bound: true });

    it("count against their code only, and the last one kills it", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ otpId: "otp-2", issuedAt: T0 + 1 }));
      expect(await store().recordFailure(bound(T0))).toMatchObject({ failures: 1 });
      expect(await store().recordFailure(bound(T0 + 1))).toMatchObject({ failures: 2 });
      expect(await store().recordFailure(bound(T0 + 2))).toMatchObject({
        failures: 3,
        lockedUntil: null,
      });
      expect(await store().recordFailure(bound(T0 + 3))).toEqual({ counted: false });
      expect((await store().readOtpState(lookup(ANN, "login", "otp-1"))).code?.failures).toBe(3);
      expect(await store().consumeCode(use({ bound: true }))).toEqual({ kind: "refused" });
      // Neither the other code nor the unbound lane took any of them.
      const unbound = await store().readOtpState(lookup());
      expect(unbound.code).toMatchObject({ otpId: "otp-2", failures: 0 });
      expect(unbound.lockedUntil).toBeNull();
      expect(countOf(await store().recordFailure(failure(T0 + 4, { otpId: "otp-2" })))).toBe(1);
    });

    it("are not counted against a used, expired or foreign code", async () => {
      await store().activateCode(newCode());
      expect(await store().recordFailure(bound(T0, "otp-x"))).toEqual({ counted: false });
      expect(await store().recordFailure(bound(T0 + 5 * MINUTE))).toEqual({ counted: false });
      await store().consumeCode(use({ bound: true }));
      expect(await store().recordFailure(bound(T0 + 2 * MINUTE))).toEqual({ counted: false });
      expect((await store().readOtpState(lookup())).failures).toEqual([]);
    });

    it("are counted exactly against the code and the account when concurrent", async () => {
      await store().activateCode(newCode());
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () => store().recordFailure(bound(T0))),
      );
      expect(
        outcomes
          .map(countOf)
          .filter((n) => n > 0)
          .sort(),
      ).toEqual([1, 2, 3]);
      const state = await store().readOtpState(lookup(ANN, "login", "otp-1"));
      expect(state.code?.failures).toBe(3);
      expect(state.failures).toHaveLength(3);
    });
  });

  describe("the account's failure cap", () => {
    const cap = gate({ maxFailures: 5 });
    const here = "ip:203.0.113.7";
    const elsewhere = "ip:198.51.100.9";
    /** Five codes, otp-0 … otp-4, and `n` wrong bound attempts at them from `network`. */
    const fail = async (n: number, network = here) => {
      for (let i = 0; i < n; i++) {
        await store().recordFailure(
          failure(T0 + i, { otpId: `otp-${i % 5}`, bound: true, gate: gate({ ...cap, network }) }),
        );
      }
    };
    const codes = async () => {
      for (let i = 0; i < 5; i++) {
        await store().activateCode(newCode({ otpId: `otp-${i}`, issuedAt: T0 + i }));
      }
    };

    it("records each failure with its network, bound and unbound, across purposes", async () => {
      await codes();
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
      await fail(2);
      await store().recordFailure(
        failure(T0 + 10, { otpId: "otp-4", gate: gate({ ...cap, network: elsewhere }) }),
      );
      await store().recordFailure(
        failure(T0 + 11, { purpose: "reset", otpId: "otp-r", gate: cap }),
      );
      expect((await store().readOtpState(lookup(ANN, "reset"))).failures).toEqual([
        { at: T0, network: here },
        { at: T0 + 1, network: here },
        { at: T0 + 10, network: elsewhere },
        { at: T0 + 11, network: here },
      ]);
    });

    it("refuses unbound attempts and the networks that failed, and judges a bound attempt from another", async () => {
      await codes();
      await fail(5);
      const from = (network: string) => gate({ ...cap, network });
      expect(
        await store().recordFailure(
          failure(T0 + 10, { otpId: "otp-4", bound: true, gate: from(here) }),
        ),
      ).toEqual({ counted: false });
      expect(
        await store().recordFailure(failure(T0 + 10, { otpId: "otp-4", gate: from(elsewhere) })),
      ).toEqual({ counted: false });
      expect(
        await store().consumeCode(use({ otpId: "otp-4", bound: true, gate: from(here) })),
      ).toEqual({ kind: "refused" });
      expect(await store().consumeCode(use({ otpId: "otp-4", gate: from(elsewhere) }))).toEqual({
        kind: "refused",
      });
      // A bound attempt from a network that contributed no failure is judged: a wrong one counts
      // (and makes that network one that failed), a right one is used.
      const third = "ip:192.0.2.1";
      expect(
        await store().recordFailure(
          failure(T0 + 10, { otpId: "otp-3", bound: true, gate: from(elsewhere) }),
        ),
      ).toMatchObject({ counted: true });
      expect(
        await store().recordFailure(
          failure(T0 + 11, { otpId: "otp-3", bound: true, gate: from(elsewhere) }),
        ),
      ).toEqual({ counted: false });
      expect(
        await store().consumeCode(use({ otpId: "otp-4", bound: true, gate: from(third) })),
      ).toMatchObject({ kind: "consumed" });
    });

    it("counts only the failures within the window", async () => {
      await codes();
      await fail(5);
      const later = T0 + 24 * 60 * MINUTE + 3;
      await store().activateCode(
        newCode({ otpId: "otp-late", issuedAt: later, expiresAt: later + 5 * MINUTE }),
      );
      // By then four of the five have left the window: the cap no longer refuses.
      expect(
        await store().recordFailure(failure(later, { otpId: "otp-late", bound: true, gate: cap })),
      ).toMatchObject({ counted: true, failures: 1 });
      expect((await store().readOtpState(lookup(ANN, "login", null, later))).failures).toEqual([
        { at: T0 + 4, network: here },
        { at: later, network: here },
      ]);
    });

    it("is exact under concurrent attempts: no racing failure slips past it", async () => {
      for (let i = 0; i < 20; i++) {
        await store().activateCode(newCode({ otpId: `otp-${i}`, issuedAt: T0 + i }));
      }
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          store().recordFailure(failure(T0, { otpId: `otp-${i % 20}`, bound: true, gate: cap })),
        ),
      );
      expect(outcomes.filter((o) => o.counted)).toHaveLength(5);
      expect((await store().readOtpState(lookup())).failures).toHaveLength(5);
    });
  });
}
