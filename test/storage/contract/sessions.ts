import { describe, expect, it } from "vitest";
import { type CurrentStore, MINUTE, newCode, T0, use } from "./fixtures.js";

/**
 * Users and sessions (the session consumeCode creates; findSession, findSessionById,
 * readAuthentication, revokeSessions): a user keeps its first id, and a resolved revocation is
 * seen by every lookup.
 */
export function describeSessionContract(store: CurrentStore): void {
  describe("users and sessions", () => {
    it("creates the session with the code's use: its user, email, purpose and times", async () => {
      await store().activateCode(newCode({ purpose: "reset" }));
      const u = use({ purpose: "reset" });
      await store().consumeCode(u);
      expect(await store().findSession(u.session.tokenHash)).toEqual({
        sessionId: u.session.sessionId,
        userId: "user-ann",
        email: "ann@example.com",
        purpose: "reset",
        createdAt: T0 + MINUTE,
        expiresAt: T0 + 24 * 60 * MINUTE,
        revokedAt: null,
        lastSeenAt: T0 + MINUTE,
        clientAddress: "203.0.113.0/24",
        userAgent: "Contract/1.0",
      });
    });

    it("creates no session for a code it does not consume", async () => {
      const refused = use();
      await store().consumeCode(refused);
      await store().activateCode(newCode());
      const expired = use({ now: T0 + 5 * MINUTE });
      await store().consumeCode(expired);
      expect(await store().findSession(refused.session.tokenHash)).toBeNull();
      expect(await store().findSession(expired.session.tokenHash)).toBeNull();
      expect(await store().readAuthentication("ann@example.com", T0 + MINUTE)).toBeNull();
    });

    it("keeps a user's first id through new codes and sessions", async () => {
      await store().activateCode(newCode());
      await store().activateCode(newCode({ otpId: "otp-2", userId: "user-other" }));
      expect(await store().consumeCode(use({ otpId: "otp-2" }))).toEqual({
        kind: "consumed",
        userId: "user-ann",
      });
      await store().activateCode(newCode({ otpId: "otp-3", userId: "user-third" }));
      const again = use({ otpId: "otp-3", now: T0 + 2 * MINUTE });
      await store().consumeCode(again);
      expect((await store().findSession(again.session.tokenHash))?.userId).toBe("user-ann");
      await store().activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
      expect(
        await store().consumeCode(use({ email: "bob@example.com", now: T0 + 2 * MINUTE })),
      ).toEqual({ kind: "consumed", userId: "user-bob" });
    });

    it("finds nothing for an unknown token", async () => {
      expect(await store().findSession(new Uint8Array(32).fill(9))).toBeNull();
    });

    it("finds a session by its id as by its token, revoked or not; nothing for an unknown id", async () => {
      await store().activateCode(newCode());
      const first = use();
      await store().consumeCode(first);
      await store().activateCode(newCode({ otpId: "otp-2" }));
      const second = use({ otpId: "otp-2" });
      await store().consumeCode(second);
      expect(await store().findSessionById(first.session.sessionId)).toEqual(
        await store().findSession(first.session.tokenHash),
      );
      await store().revokeSessions({
        tokenHash: second.session.tokenHash,
        allOfUser: false,
        now: T0 + 2 * MINUTE,
      });
      expect(await store().findSessionById(second.session.sessionId)).toMatchObject({
        sessionId: second.session.sessionId,
        userId: "user-ann",
        revokedAt: T0 + 2 * MINUTE,
      });
      expect(await store().findSessionById(first.session.sessionId)).toMatchObject({
        revokedAt: null,
      });
      expect(await store().findSessionById("session-unknown")).toBeNull();
    });

    it("answers an email's latest live session, of any purpose", async () => {
      await store().activateCode(newCode());
      const first = use();
      await store().consumeCode(first);
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
      const second = use({ purpose: "reset", otpId: "otp-r", now: T0 + 3 * MINUTE });
      await store().consumeCode(second);
      expect(await store().readAuthentication("ann@example.com", T0 + 4 * MINUTE)).toBe(
        T0 + 3 * MINUTE,
      );
      await store().revokeSessions({
        tokenHash: second.session.tokenHash,
        allOfUser: false,
        now: T0 + 5 * MINUTE,
      });
      expect(await store().readAuthentication("ann@example.com", T0 + 5 * MINUTE)).toBe(
        T0 + MINUTE,
      );
      expect(await store().readAuthentication("ann@example.com", T0 + 24 * 60 * MINUTE)).toBeNull();
      expect(await store().readAuthentication("bob@example.com", T0 + 5 * MINUTE)).toBeNull();
    });

    it("revokes one session, keeping its first mark; the others stay live", async () => {
      await store().activateCode(newCode());
      const first = use();
      await store().consumeCode(first);
      await store().activateCode(newCode({ otpId: "otp-2" }));
      const second = use({ otpId: "otp-2" });
      await store().consumeCode(second);
      const revoke = (now: number) =>
        store().revokeSessions({ tokenHash: first.session.tokenHash, allOfUser: false, now });
      await revoke(T0 + 2 * MINUTE);
      await revoke(T0 + 3 * MINUTE);
      expect((await store().findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
      expect((await store().findSession(second.session.tokenHash))?.revokedAt).toBeNull();
      // Unknown tokens are no error.
      await store().revokeSessions({
        tokenHash: new Uint8Array(32).fill(9),
        allOfUser: true,
        now: T0 + 3 * MINUTE,
      });
    });

    it("revokes every session of the user, and only theirs", async () => {
      await store().activateCode(newCode());
      const first = use();
      await store().consumeCode(first);
      await store().activateCode(newCode({ purpose: "reset", otpId: "otp-r" }));
      const second = use({ purpose: "reset", otpId: "otp-r" });
      await store().consumeCode(second);
      await store().activateCode(newCode({ email: "bob@example.com", userId: "user-bob" }));
      const bob = use({ email: "bob@example.com" });
      await store().consumeCode(bob);
      await store().revokeSessions({
        tokenHash: second.session.tokenHash,
        allOfUser: true,
        now: T0 + 2 * MINUTE,
      });
      expect((await store().findSession(first.session.tokenHash))?.revokedAt).toBe(T0 + 2 * MINUTE);
      expect((await store().findSession(second.session.tokenHash))?.revokedAt).toBe(
        T0 + 2 * MINUTE,
      );
      expect((await store().findSession(bob.session.tokenHash))?.revokedAt).toBeNull();
      expect(await store().readAuthentication("ann@example.com", T0 + 2 * MINUTE)).toBeNull();
      expect(await store().readAuthentication("bob@example.com", T0 + 2 * MINUTE)).toBe(
        T0 + MINUTE,
      );
    });

    it("a token no longer live signs out only itself, even for every session of its user", async () => {
      await store().activateCode(newCode());
      // The first session ends at T0 + 1h, the others a day after T0.
      const short = use();
      const first = { ...short, session: { ...short.session, expiresAt: T0 + 60 * MINUTE } };
      await store().consumeCode(first);
      await store().activateCode(newCode({ otpId: "otp-2" }));
      const second = use({ otpId: "otp-2" });
      await store().consumeCode(second);
      await store().activateCode(newCode({ otpId: "otp-3" }));
      const third = use({ otpId: "otp-3" });
      await store().consumeCode(third);
      const revokeAll = (tokenHash: Uint8Array, now: number) =>
        store().revokeSessions({ tokenHash, allOfUser: true, now });

      // Expired: no authority over the user's other sessions.
      await revokeAll(first.session.tokenHash, T0 + 61 * MINUTE);
      expect((await store().findSession(second.session.tokenHash))?.revokedAt).toBeNull();
      // Revoked: likewise.
      await store().revokeSessions({
        tokenHash: second.session.tokenHash,
        allOfUser: false,
        now: T0 + 62 * MINUTE,
      });
      await revokeAll(second.session.tokenHash, T0 + 64 * MINUTE);
      expect((await store().findSession(third.session.tokenHash))?.revokedAt).toBeNull();
      // Live: every session of the user.
      await revokeAll(third.session.tokenHash, T0 + 65 * MINUTE);
      expect(await store().readAuthentication("ann@example.com", T0 + 65 * MINUTE)).toBeNull();
    });

    it("once a revocation resolves, no lookup racing it afterwards sees the session live", async () => {
      await store().activateCode(newCode());
      const u = use();
      await store().consumeCode(u);
      const lookups: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        lookups.push(store().findSession(u.session.tokenHash));
      }
      await store().revokeSessions({
        tokenHash: u.session.tokenHash,
        allOfUser: false,
        now: T0 + 2 * MINUTE,
      });
      const after = await Promise.all(
        Array.from({ length: 20 }, () => store().findSession(u.session.tokenHash)),
      );
      await Promise.all(lookups);
      for (const session of after) {
        expect(session?.revokedAt).toBe(T0 + 2 * MINUTE);
      }
    });
  });
}
