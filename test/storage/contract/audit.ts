import { describe, expect, it } from "vitest";
import type { AuditContext } from "../../../src/domain/audit-event.js";
import type { AuditQuery, StoredAuditEvent, UserRef } from "../../../src/domain/otp-store.js";
import { type CurrentStore, countOf, failure, gate, MINUTE, newCode, T0, use } from "./fixtures.js";

const ANN = "ann@example.com";
const DAY = 24 * 60 * MINUTE;
const ctx = (requestId: string): AuditContext => ({
  requestId,
  clientAddress: "198.51.100.0/24",
  userAgent: "Audit/1.0",
  retainUntil: T0 + 90 * DAY,
});
const ann = { userId: "user-ann" } as const;

/**
 * The audit trail: each step writes the events of its change in the same step, so that no event
 * exists without its change and no change without its event, races included; reading pages
 * through them oldest first; erasure keeps what happened and forgets who.
 */
export function describeAuditContract(store: CurrentStore): void {
  /** Every event of `user`, oldest first. */
  const trail = (user: UserRef, query: Partial<AuditQuery> = {}) =>
    store().listAuditEvents({ user, since: 0, after: null, limit: 1000, ...query });
  const types = (events: readonly StoredAuditEvent[]) => events.map((e) => e.type);

  describe("audit trail", () => {
    it("records a code requested, a wrong code and a session created, with their request", async () => {
      await store().activateCode(newCode({ audit: ctx("req-request") }));
      await store().recordFailure(failure(T0 + MINUTE, { audit: ctx("req-wrong") }));
      const u = use({ now: T0 + 2 * MINUTE, audit: ctx("req-right") });
      await store().consumeCode(u);
      const events = await trail({ email: ANN });
      expect(events).toMatchObject([
        {
          type: "otp.requested",
          at: T0,
          userId: "user-ann",
          purpose: "login",
          sessionId: "",
          requestId: "req-request",
          clientAddress: "198.51.100.0/24",
          userAgent: "Audit/1.0",
          reason: "",
        },
        {
          type: "otp.verify_failed",
          at: T0 + MINUTE,
          userId: "user-ann",
          purpose: "login",
          requestId: "req-wrong",
          reason: "mismatch",
        },
        {
          type: "session.created",
          at: T0 + 2 * MINUTE,
          userId: "user-ann",
          purpose: "login",
          sessionId: u.session.sessionId,
          requestId: "req-right",
        },
      ]);
      expect(new Set(events.map((e) => e.seq)).size).toBe(3);
      expect(await trail(ann)).toEqual(events);
      // Nothing of another account, nor of an account never seen.
      expect(await trail({ email: "bob@example.com" })).toEqual([]);
      expect(await trail({ userId: "user-bob" })).toEqual([]);
    });

    it("records no event for a step that changed nothing", async () => {
      expect(await store().recordFailure(failure(T0))).toEqual({ counted: false });
      await store().activateCode(newCode());
      await store().consumeCode(use({ otpId: "otp-missing" }));
      await store().consumeCode(use({ now: T0 + 6 * MINUTE }));
      expect(types(await trail({ email: ANN }))).toEqual(["otp.requested"]);
    });

    it("records each lock with its scope: unbound, code and account", async () => {
      await store().activateCode(newCode());
      for (const minute of [1, 2, 3]) {
        await store().recordFailure(failure(T0 + minute * 6_000));
      }
      await store().activateCode(newCode({ otpId: "otp-2", purpose: "reset" }));
      for (const minute of [1, 2, 3]) {
        await store().recordFailure(
          failure(T0 + MINUTE + minute * 6_000, { otpId: "otp-2", purpose: "reset", bound: true }),
        );
      }
      const locks = (await trail({ email: ANN })).filter((e) => e.type === "otp.locked");
      expect(locks.map((e) => [e.purpose, e.reason])).toEqual([
        ["login", "unbound"],
        ["reset", "code"],
      ]);

      const capped = gate({ maxFailures: 2, maxAttempts: 10 });
      await store().activateCode(newCode({ email: "cap@example.com", userId: "user-cap" }));
      const capFailure = (now: number) =>
        failure(now, { email: "cap@example.com", bound: true, gate: capped });
      expect(countOf(await store().recordFailure(capFailure(T0 + MINUTE)))).toBe(1);
      expect(countOf(await store().recordFailure(capFailure(T0 + 2 * MINUTE)))).toBe(2);
      expect(
        (await trail({ userId: "user-cap" })).map((e) => [e.type, e.reason, e.at - T0]),
      ).toEqual([
        ["otp.requested", "", 0],
        ["otp.verify_failed", "mismatch", MINUTE],
        ["otp.verify_failed", "mismatch", 2 * MINUTE],
        ["otp.locked", "account", 2 * MINUTE],
      ]);
    });

    it("writes exactly one session.created when many right codes race", async () => {
      await store().activateCode(newCode());
      const uses = Array.from({ length: 30 }, (_, i) => use({ bound: i % 2 === 0 }));
      const outcomes = await Promise.all(uses.map((u) => store().consumeCode(u)));
      const winner = uses[outcomes.findIndex((o) => o.kind === "consumed")];
      const created = (await trail(ann)).filter((e) => e.type === "session.created");
      expect(created.map((e) => e.sessionId)).toEqual([winner?.session.sessionId]);
    });

    it("writes exactly as many verify_failed as failures counted when wrong codes race", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ otpId: "otp-2", purpose: "reset" }));
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          store().recordFailure(
            i % 2 === 0
              ? failure(T0 + MINUTE)
              : failure(T0 + MINUTE, { otpId: "otp-2", purpose: "reset", bound: true }),
          ),
        ),
      );
      const counted = outcomes.filter((o) => o.counted).length;
      expect(counted).toBe(6);
      const events = await trail(ann);
      expect(events.filter((e) => e.type === "otp.verify_failed")).toHaveLength(counted);
      expect(
        events
          .filter((e) => e.type === "otp.locked")
          .map((e) => e.reason)
          .sort(),
      ).toEqual(["code", "unbound"]);
    });

    it("records each session a sign-out ends, with why, and none it did not end", async () => {
      await store().activateCode(newCode());
      const [a, b, c] = [use(), use({ bound: true }), use({ bound: true })];
      await store().consumeCode(a);
      // The code is used: the others need codes of their own.
      await store().activateCode(newCode({ otpId: "otp-b" }));
      await store().consumeCode({ ...b, otpId: "otp-b" });
      await store().activateCode(newCode({ otpId: "otp-c" }));
      await store().consumeCode({ ...c, otpId: "otp-c" });
      const at = T0 + 3 * MINUTE;
      const revoke = (over: object) =>
        store().revokeSessions({
          tokenHash: a.session.tokenHash,
          allOfUser: false,
          now: at,
          audit: ctx("req-out"),
          ...over,
        });
      await revoke({ sessionId: b.session.sessionId });
      await revoke({ allOfUser: true });
      // Everything is revoked now: a repeat ends nothing and records nothing.
      await revoke({ allOfUser: true });
      await revoke({});
      const revoked = (await trail({ email: ANN })).filter((e) => e.type === "session.revoked");
      const [first, ...rest] = revoked.map((e) => [e.sessionId, e.reason, e.requestId]);
      expect(first).toEqual([b.session.sessionId, "other_device", "req-out"]);
      // Of one step, in any order.
      expect(rest.sort()).toEqual(
        [a, c].map((s) => [s.session.sessionId, "sign_out_all", "req-out"]).sort(),
      );
    });

    it("records a session its own token ends as sign_out", async () => {
      await store().activateCode(newCode());
      const a = use();
      await store().consumeCode(a);
      await store().revokeSessions({
        tokenHash: a.session.tokenHash,
        allOfUser: false,
        now: T0 + 2 * MINUTE,
      });
      expect((await trail(ann)).at(-1)).toMatchObject({
        type: "session.revoked",
        sessionId: a.session.sessionId,
        reason: "sign_out",
        at: T0 + 2 * MINUTE,
      });
    });

    it("records one session.revoked per session an operator ends", async () => {
      await store().activateCode(newCode());
      const a = use();
      await store().consumeCode(a);
      await store().activateCode(newCode({ otpId: "otp-2" }));
      const b = use({ otpId: "otp-2", now: T0 + 2 * MINUTE });
      await store().consumeCode(b);
      expect(await store().revokeUserSessions(ann, T0 + 3 * MINUTE, 0, ctx("req-admin"))).toBe(2);
      expect(await store().revokeUserSessions(ann, T0 + 4 * MINUTE, 0, ctx("req-admin"))).toBe(0);
      const revoked = (await trail(ann)).filter((e) => e.type === "session.revoked");
      expect(revoked.map((e) => [e.sessionId, e.reason, e.requestId, e.at]).sort()).toEqual(
        [a, b].map((s) => [s.session.sessionId, "admin", "req-admin", T0 + 3 * MINUTE]).sort(),
      );
    });

    it("records a delivery that failed, with the user's id once there is one", async () => {
      await store().recordDeliveryFailure({
        email: ANN,
        purpose: "login",
        now: T0,
        audit: ctx("r1"),
      });
      await store().activateCode(newCode({ issuedAt: T0 + MINUTE }));
      await store().recordDeliveryFailure({ email: ANN, purpose: "reset", now: T0 + 2 * MINUTE });
      expect(
        (await trail({ email: ANN })).map((e) => [e.type, e.userId, e.purpose, e.requestId]),
      ).toEqual([
        ["otp.delivery_failed", "", "login", "r1"],
        ["otp.requested", "user-ann", "login", ""],
        ["otp.delivery_failed", "user-ann", "reset", ""],
      ]);
    });

    it("pages oldest first: since inclusive, a limit, and after the last one read", async () => {
      // Written out of time order: the trail is in the order of `at`, then of writing.
      for (const [i, at] of [3, 1, 2, 2, 4].entries()) {
        await store().recordDeliveryFailure({
          email: ANN,
          purpose: `p${i}`,
          now: T0 + (at as number) * MINUTE,
        });
      }
      const all = await trail({ email: ANN });
      expect(all.map((e) => e.purpose)).toEqual(["p1", "p2", "p3", "p0", "p4"]);
      expect(
        (await trail({ email: ANN }, { since: T0 + 2 * MINUTE })).map((e) => e.purpose),
      ).toEqual(["p2", "p3", "p0", "p4"]);
      const first = await trail({ email: ANN }, { limit: 2 });
      expect(first.map((e) => e.purpose)).toEqual(["p1", "p2"]);
      const last = first.at(-1) as StoredAuditEvent;
      const second = await trail(
        { email: ANN },
        { limit: 2, after: { at: last.at, seq: last.seq } },
      );
      expect(second.map((e) => e.purpose)).toEqual(["p3", "p0"]);
      const end = second.at(-1) as StoredAuditEvent;
      expect(
        (await trail({ email: ANN }, { limit: 2, after: { at: end.at, seq: end.seq } })).map(
          (e) => e.purpose,
        ),
      ).toEqual(["p4"]);
    });

    it("keeps an erased user's events by user id only, without what names the person", async () => {
      await store().activateCode(newCode({ audit: ctx("req-1") }));
      await store().recordFailure(failure(T0 + MINUTE, { audit: ctx("req-2") }));
      const live = use({ now: T0 + 2 * MINUTE, audit: ctx("req-3") });
      await store().consumeCode(live);
      await store().activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
      const before = await trail(ann);
      expect(
        await store().eraseUser({
          email: ANN,
          buckets: { names: [], prefixes: [] },
          now: T0 + 3 * MINUTE,
          audit: { ...ctx("req-erase"), clientAddress: "", userAgent: "" },
        }),
      ).toBe(true);
      expect(await trail({ email: ANN })).toEqual([]);
      const after = await trail(ann);
      expect(after.slice(0, before.length)).toEqual(
        before.map((e) => ({ ...e, clientAddress: "", userAgent: "" })),
      );
      expect(
        after.slice(before.length).map((e) => [e.type, e.sessionId, e.reason, e.requestId]),
      ).toEqual([
        ["session.revoked", live.session.sessionId, "user_deleted", "req-erase"],
        ["user.deleted", "", "", "req-erase"],
      ]);
      // Another account's trail is untouched.
      expect(await trail({ email: "bob@example.com" })).toMatchObject([
        { type: "otp.requested", userId: "user-bob" },
      ]);
      // A new user of the same email starts a trail of its own.
      await store().activateCode(newCode({ userId: "user-ann-2", issuedAt: T0 + 4 * MINUTE }));
      expect((await trail({ email: ANN })).map((e) => [e.type, e.userId])).toEqual([
        ["otp.requested", "user-ann-2"],
      ]);
    });

    it("leaves the trail alone when an erasure by user id finds another user", async () => {
      await store().activateCode(newCode({ audit: ctx("req-1") }));
      expect(
        await store().eraseUser({
          email: ANN,
          userId: "user-other",
          buckets: { names: [], prefixes: [] },
          now: T0 + MINUTE,
        }),
      ).toBe(false);
      expect(await trail({ email: ANN })).toMatchObject([
        { type: "otp.requested", clientAddress: "198.51.100.0/24", userAgent: "Audit/1.0" },
      ]);
    });

    it("purges events once their retention has passed", async () => {
      await store().activateCode(
        newCode({ audit: { ...ctx("req-1"), retainUntil: T0 + 20 * MINUTE } }),
      );
      await store().recordDeliveryFailure({
        email: ANN,
        purpose: "login",
        now: T0,
        audit: { ...ctx("req-2"), retainUntil: T0 + 40 * MINUTE },
      });
      await store().purgeExpired(T0 + 30 * MINUTE);
      expect((await trail({ email: ANN })).map((e) => e.requestId)).toEqual(["req-2"]);
    });
  });
}
