import { describe, expect, it } from "vitest";
import type { CodeUse, SessionUse } from "../../../src/domain/otp-store.js";
import { type CurrentStore, MINUTE, newCode, T0, use } from "./fixtures.js";

const DAY = 24 * 60 * MINUTE;

/**
 * Using sessions (useSession, listSessions), the idle limit wherever liveness is judged, and
 * ending another session of the same user (revokeSessions with a session id), races included.
 */
export function describeSessionUseContract(store: CurrentStore): void {
  /** Ann signs in `n` times, a minute apart from T0 + 1 minute; returns the code uses. */
  async function signIns(n: number, email = "ann@example.com"): Promise<CodeUse[]> {
    const uses: CodeUse[] = [];
    for (let i = 1; i <= n; i++) {
      const otpId = `${email}-otp-${i}`;
      await store().activateCode(newCode({ email, otpId, userId: `user-${email}` }));
      const u = use({ email, otpId, now: T0 + i * MINUTE });
      await store().consumeCode(u);
      uses.push(u);
    }
    return uses;
  }
  /** A use of `u`'s session at `now`: idle limit off, due once its mark is a minute old. */
  const at = (u: CodeUse, now: number, extra: Partial<SessionUse> = {}): SessionUse => ({
    tokenHash: u.session.tokenHash,
    now,
    idleCutoff: 0,
    touchBefore: now - MINUTE,
    ...extra,
  });

  describe("session uses and devices", () => {
    it("a use marks a live session seen only when due, and says whether it did", async () => {
      const [ann] = (await signIns(1)) as [CodeUse];
      // Created at T0 + 1m: at T0 + 1m 30s its mark is not due.
      const early = await store().useSession(at(ann, T0 + MINUTE + 30_000));
      expect(early).toMatchObject({ touched: false, session: { lastSeenAt: T0 + MINUTE } });
      const due = await store().useSession(at(ann, T0 + 3 * MINUTE));
      expect(due).toMatchObject({
        touched: true,
        session: { sessionId: ann.session.sessionId, lastSeenAt: T0 + 3 * MINUTE },
      });
      expect((await store().findSession(ann.session.tokenHash))?.lastSeenAt).toBe(T0 + 3 * MINUTE);
      expect(
        await store().useSession(at(ann, T0 + 3 * MINUTE, { tokenHash: new Uint8Array(32) })),
      ).toBeNull();
    });

    it("a use never marks a revoked, expired or idle session, and still answers it", async () => {
      const [first, second, third] = (await signIns(3)) as [CodeUse, CodeUse, CodeUse];
      await store().revokeSessions({
        tokenHash: first.session.tokenHash,
        allOfUser: false,
        now: T0 + 5 * MINUTE,
      });
      const revoked = await store().useSession(at(first, T0 + 10 * MINUTE));
      expect(revoked).toMatchObject({ touched: false, session: { revokedAt: T0 + 5 * MINUTE } });
      const expired = await store().useSession(at(second, T0 + DAY + MINUTE));
      expect(expired).toMatchObject({ touched: false, session: { lastSeenAt: T0 + 2 * MINUTE } });
      // Last seen at T0 + 3m: idle once the cutoff reaches that.
      const idle = await store().useSession(
        at(third, T0 + 30 * MINUTE, { idleCutoff: T0 + 3 * MINUTE }),
      );
      expect(idle).toMatchObject({ touched: false, session: { lastSeenAt: T0 + 3 * MINUTE } });
    });

    it("of racing uses of one session, exactly one writes its mark", async () => {
      const [ann] = (await signIns(1)) as [CodeUse];
      const uses = await Promise.all(
        Array.from({ length: 12 }, () => store().useSession(at(ann, T0 + 5 * MINUTE))),
      );
      expect(uses.filter((seen) => seen?.touched)).toHaveLength(1);
      for (const seen of uses) {
        expect(seen?.session.lastSeenAt).toBe(T0 + 5 * MINUTE);
      }
    });

    it("lists the user's live sessions newest first, the caller's marked, and marks it seen", async () => {
      const [first, second, third, fourth] = (await signIns(4)) as CodeUse[] as [
        CodeUse,
        CodeUse,
        CodeUse,
        CodeUse,
      ];
      await signIns(1, "bob@example.com");
      await store().revokeSessions({
        tokenHash: third.session.tokenHash,
        allOfUser: false,
        now: T0 + 6 * MINUTE,
      });
      const listed = await store().listSessions(at(second, T0 + 10 * MINUTE));
      expect(listed.map((s) => [s.sessionId, s.current])).toEqual([
        [fourth.session.sessionId, false],
        [second.session.sessionId, true],
        [first.session.sessionId, false],
      ]);
      expect(listed[1]).toMatchObject({
        userId: "user-ann@example.com",
        email: "ann@example.com",
        purpose: "login",
        createdAt: T0 + 2 * MINUTE,
        lastSeenAt: T0 + 10 * MINUTE,
        expiresAt: T0 + DAY,
        revokedAt: null,
        clientAddress: "203.0.113.0/24",
        userAgent: "Contract/1.0",
      });
      expect(listed[0]?.lastSeenAt).toBe(T0 + 4 * MINUTE);
      expect((await store().findSession(second.session.tokenHash))?.lastSeenAt).toBe(
        T0 + 10 * MINUTE,
      );
      // The idle limit: sessions last seen at or before the cutoff drop out.
      const fresh = await store().listSessions(
        at(second, T0 + 12 * MINUTE, { idleCutoff: T0 + 4 * MINUTE }),
      );
      expect(fresh.map((s) => s.sessionId)).toEqual([second.session.sessionId]);
    });

    it("lists nothing for an unknown, revoked, expired or idle token", async () => {
      const [first, second, third] = (await signIns(3)) as [CodeUse, CodeUse, CodeUse];
      expect(
        await store().listSessions(at(first, T0 + 5 * MINUTE, { tokenHash: new Uint8Array(32) })),
      ).toEqual([]);
      await store().revokeSessions({
        tokenHash: first.session.tokenHash,
        allOfUser: false,
        now: T0 + 5 * MINUTE,
      });
      expect(await store().listSessions(at(first, T0 + 6 * MINUTE))).toEqual([]);
      expect(await store().listSessions(at(second, T0 + DAY + MINUTE))).toEqual([]);
      expect(
        await store().listSessions(at(third, T0 + 9 * MINUTE, { idleCutoff: T0 + 3 * MINUTE })),
      ).toEqual([]);
      // No use of an idle token marked it seen.
      expect((await store().findSession(third.session.tokenHash))?.lastSeenAt).toBe(
        T0 + 3 * MINUTE,
      );
    });

    it("the idle limit holds for status by email and for signing out others", async () => {
      const [first, second] = (await signIns(2)) as [CodeUse, CodeUse];
      expect(await store().readAuthentication("ann@example.com", T0 + 5 * MINUTE, 0)).toBe(
        T0 + 2 * MINUTE,
      );
      expect(
        await store().readAuthentication("ann@example.com", T0 + 5 * MINUTE, T0 + MINUTE),
      ).toBe(T0 + 2 * MINUTE);
      expect(
        await store().readAuthentication("ann@example.com", T0 + 5 * MINUTE, T0 + 2 * MINUTE),
      ).toBeNull();
      // An idle token ends itself, but no other session.
      await store().revokeSessions({
        tokenHash: first.session.tokenHash,
        allOfUser: true,
        now: T0 + 5 * MINUTE,
        idleCutoff: T0 + MINUTE,
      });
      expect((await store().findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 5 * MINUTE);
      expect((await store().findSession(second.session.tokenHash))?.revokedAt).toBeNull();
    });

    it("ends another session of the same user, only that one, only for a live token", async () => {
      const [first, second, third] = (await signIns(3)) as [CodeUse, CodeUse, CodeUse];
      const [bob] = (await signIns(1, "bob@example.com")) as [CodeUse];
      const endOther = (by: CodeUse, sessionId: string, now: number, idleCutoff = 0) =>
        store().revokeSessions({
          tokenHash: by.session.tokenHash,
          allOfUser: false,
          sessionId,
          now,
          idleCutoff,
        });
      const revokedAt = async (u: CodeUse) =>
        (await store().findSession(u.session.tokenHash))?.revokedAt ?? null;

      // Another user's session, or an unknown id: nothing ends, the token's own included.
      await endOther(first, bob.session.sessionId, T0 + 5 * MINUTE);
      await endOther(first, "session-unknown", T0 + 5 * MINUTE);
      expect(await revokedAt(bob)).toBeNull();
      expect(await revokedAt(first)).toBeNull();
      // An idle token ends nothing.
      await endOther(first, second.session.sessionId, T0 + 6 * MINUTE, T0 + MINUTE);
      expect(await revokedAt(second)).toBeNull();
      expect(await revokedAt(first)).toBeNull();
      // A live token ends that session, and only it.
      await endOther(first, second.session.sessionId, T0 + 7 * MINUTE);
      expect(await revokedAt(second)).toBe(T0 + 7 * MINUTE);
      expect(await revokedAt(first)).toBeNull();
      expect(await revokedAt(third)).toBeNull();
      // A revoked token ends nothing more.
      await store().revokeSessions({
        tokenHash: first.session.tokenHash,
        allOfUser: false,
        now: T0 + 8 * MINUTE,
      });
      await endOther(first, third.session.sessionId, T0 + 9 * MINUTE);
      expect(await revokedAt(third)).toBeNull();
    });

    it("ending a device while it is used and listed: it stays ended, and no later list shows it", async () => {
      for (let round = 0; round < 5; round++) {
        const [phone, laptop] = (await signIns(2, `ann${round}@example.com`)) as [CodeUse, CodeUse];
        const now = T0 + (10 + round) * MINUTE;
        const [, , listedMeanwhile] = await Promise.all([
          store().useSession(at(laptop, now)),
          store().revokeSessions({
            tokenHash: phone.session.tokenHash,
            allOfUser: false,
            sessionId: laptop.session.sessionId,
            now,
          }),
          store().listSessions(at(phone, now)),
          store().useSession(at(laptop, now)),
        ]);
        // Racing, the laptop may or may not still be listed; the phone always is.
        expect(listedMeanwhile.map((s) => s.sessionId)).toContain(phone.session.sessionId);
        const laptopNow = await store().findSession(laptop.session.tokenHash);
        // A use marking the laptop seen never undid its revocation.
        expect(laptopNow?.revokedAt).toBe(now);
        const listed = await store().listSessions(at(phone, now + MINUTE));
        expect(listed.map((s) => s.sessionId)).toEqual([phone.session.sessionId]);
        expect(await store().listSessions(at(laptop, now + MINUTE))).toEqual([]);
      }
    });
  });
}
