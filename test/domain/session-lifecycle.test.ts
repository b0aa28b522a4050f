import { describe, expect, it } from "vitest";
import type { OtpStore, SessionUse } from "../../src/domain/otp-store.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;
const ann = "ann@example.com";
const bob = "bob@example.com";

/** A memory store that counts the uses that marked a session seen (each one a database write). */
function countingTouches() {
  const inner = createMemoryStore();
  let touches = 0;
  const store: OtpStore = {
    ...inner,
    async useSession(use: SessionUse) {
      const seen = await inner.useSession(use);
      touches += seen?.touched ? 1 : 0;
      return seen;
    },
    async listSessions(use: SessionUse) {
      const before = (await inner.findSession(use.tokenHash))?.lastSeenAt;
      const listed = await inner.listSessions(use);
      const after = (await inner.findSession(use.tokenHash))?.lastSeenAt;
      touches += before !== after ? 1 : 0;
      return listed;
    },
  };
  return { store, touches: () => touches };
}

function harness(options: Parameters<typeof createDomainHarness>[0] = {}) {
  const h = createDomainHarness({
    codes: ["111111"],
    ...options,
    policy: { requestLimit: { count: 100, windowMs: 60 * MINUTE }, ...options.policy },
  });
  /** Signs `who` in from `clientAddress` with `userAgent`: a new session. */
  const signIn = async (who = ann, clientAddress?: string, userAgent?: string) => {
    await h.service.requestOtp({ email: who, purpose: "" });
    const verified = await h.service.verifyOtp({
      email: who,
      otp: h.sender.lastCodeFor(who),
      purpose: "",
      clientIp: clientAddress,
      userAgent,
    });
    return verified.session;
  };
  return { ...h, signIn };
}

describe("ListSessions", () => {
  it("lists the user's live sessions newest first, with device, masked network and times, the caller's marked", async () => {
    const { service, signIn, clock } = harness();
    const phone = await signIn(ann, "203.0.113.77", "Phone/1.0");
    clock.advance(MINUTE);
    const laptop = await signIn(ann, "2001:db8:1:2::5", "😀".repeat(300));
    clock.advance(MINUTE);
    const ended = await signIn(ann);
    await signIn(bob, "192.0.2.1", "Bob/1.0");
    await service.signOut({ sessionToken: ended.token, allSessions: false });
    clock.advance(MINUTE);

    const listed = await service.listSessions({ sessionToken: phone.token });
    expect(listed).toEqual([
      {
        sessionId: laptop.sessionId,
        createdAt: clock.now() - 2 * MINUTE,
        lastSeenAt: clock.now() - 2 * MINUTE,
        expiresAt: laptop.expiresAt,
        purpose: "login",
        clientAddress: "2001:db8:1::/48",
        userAgent: "😀".repeat(256),
        current: false,
      },
      {
        sessionId: phone.sessionId,
        createdAt: clock.now() - 3 * MINUTE,
        // This use marked it seen: its mark was three minutes old.
        lastSeenAt: clock.now(),
        expiresAt: phone.expiresAt,
        purpose: "login",
        clientAddress: "203.0.113.0/24",
        userAgent: "Phone/1.0",
        current: true,
      },
    ]);
  });

  it("answers an unknown, revoked or expired token with an empty list; refuses a malformed one naming session_token", async () => {
    const { service, signIn, clock, policy } = harness();
    const phone = await signIn();
    await signIn();
    expect(await service.listSessions({ sessionToken: "u".repeat(43) })).toEqual([]);
    await service.signOut({ sessionToken: phone.token, allSessions: false });
    expect(await service.listSessions({ sessionToken: phone.token })).toEqual([]);
    const later = await signIn();
    clock.advance(policy.sessionTtlMs);
    expect(await service.listSessions({ sessionToken: later.token })).toEqual([]);
    for (const sessionToken of ["", "short", "has space in it......................."]) {
      expect(await refusalOf(service.listSessions({ sessionToken }))).toMatchObject({
        kind: "invalid_argument",
        field: "session_token",
      });
    }
  });
});

describe("last_seen_at", () => {
  it("moves when the session is used, at most once a minute without an idle limit", async () => {
    const { store, touches } = countingTouches();
    const { service, signIn, clock } = harness({ store });
    const phone = await signIn();
    const lastSeen = async () => (await store.findSessionById(phone.sessionId))?.lastSeenAt;
    const createdAt = clock.now();
    for (let i = 0; i < 12; i++) {
      clock.advance(10_000);
      await service.getStatus({ sessionToken: phone.token });
      await service.listSessions({ sessionToken: phone.token });
    }
    // 24 uses over two minutes: marked at 60 s and 120 s.
    expect(touches()).toBe(2);
    expect(await lastSeen()).toBe(createdAt + 2 * MINUTE);
  });

  it("moves at most once a quarter of SESSION_IDLE_TTL when that is under four minutes", async () => {
    const { store, touches } = countingTouches();
    const { service, signIn, clock } = harness({ store, policy: { sessionIdleTtlMs: 2_000 } });
    const phone = await signIn();
    for (let i = 0; i < 20; i++) {
      clock.advance(100);
      await service.getStatus({ sessionToken: phone.token });
    }
    // Two seconds of uses every 100 ms, marked every 500 ms.
    expect(touches()).toBe(4);
  });

  it("is not moved by IntrospectToken, SignOut or a lookup by email", async () => {
    const { service, signIn, clock, store } = harness({ policy: { statusByEmail: "open" } });
    const phone = await signIn();
    const other = await signIn();
    clock.advance(5 * MINUTE);
    await service.introspectToken({ token: phone.token, serviceToken: SERVICE_TOKEN });
    await service.getStatus({ email: ann, serviceToken: SERVICE_TOKEN });
    await service.signOut({ sessionToken: phone.token, allSessions: false, sessionId: "nope" });
    expect((await store.findSessionById(phone.sessionId))?.lastSeenAt).toBe(
      clock.now() - 5 * MINUTE,
    );
    expect((await store.findSessionById(other.sessionId))?.lastSeenAt).toBe(
      clock.now() - 5 * MINUTE,
    );
  });
});

describe("SESSION_IDLE_TTL", () => {
  const idle = { sessionIdleTtlMs: 30 * MINUTE };

  it("a session in use stays live; one unused for the idle limit is over everywhere liveness is judged", async () => {
    const { service, signIn, clock } = harness({ policy: idle });
    const used = await signIn();
    const unused = await signIn();
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * MINUTE);
      expect((await service.getStatus({ sessionToken: used.token })).authenticated).toBe(true);
    }
    const status = await service.getStatus({ sessionToken: unused.token });
    expect(status).toEqual({ authenticated: false });
    expect(
      await service.introspectToken({ token: unused.token, serviceToken: SERVICE_TOKEN }),
    ).toEqual({ active: false });
    expect(await service.listSessions({ sessionToken: unused.token })).toEqual([]);
    expect(
      (await service.listSessions({ sessionToken: used.token })).map((s) => s.sessionId),
    ).toEqual([used.sessionId]);
    // An idle token has no say over other sessions: not all of them, not another one.
    await service.signOut({ sessionToken: unused.token, allSessions: true });
    await service.signOut({
      sessionToken: unused.token,
      allSessions: false,
      sessionId: used.sessionId,
    });
    expect((await service.getStatus({ sessionToken: used.token })).authenticated).toBe(true);
    // By email: authenticated while a session is live; none is once the last one idles out.
    expect(
      (await service.getStatus({ email: ann, serviceToken: SERVICE_TOKEN })).authenticated,
    ).toBe(true);
    clock.advance(30 * MINUTE);
    expect(
      (await service.getStatus({ email: ann, serviceToken: SERVICE_TOKEN })).authenticated,
    ).toBe(false);
    expect((await service.getStatus({ sessionToken: used.token })).authenticated).toBe(false);
  });

  it("never lets a session in use outlive SESSION_TTL", async () => {
    const { service, signIn, clock, policy } = harness({ policy: idle });
    const phone = await signIn();
    for (let t = 0; t < policy.sessionTtlMs; t += 20 * MINUTE) {
      await service.getStatus({ sessionToken: phone.token });
      clock.advance(20 * MINUTE);
    }
    expect((await service.getStatus({ sessionToken: phone.token })).authenticated).toBe(false);
  });
});

describe("SignOut of another device", () => {
  it("ends that session of the same user only; another user's session, or an unknown id, ends nothing", async () => {
    const { service, signIn } = harness();
    const phone = await signIn();
    const laptop = await signIn();
    const tablet = await signIn();
    const bobs = await signIn(bob);
    const live = async (token: string) =>
      (await service.getStatus({ sessionToken: token })).authenticated;
    await service.signOut({
      sessionToken: phone.token,
      allSessions: false,
      sessionId: bobs.sessionId,
    });
    await service.signOut({
      sessionToken: phone.token,
      allSessions: false,
      sessionId: "unknown-id",
    });
    expect(await live(bobs.token)).toBe(true);
    expect(await live(phone.token)).toBe(true);
    await service.signOut({
      sessionToken: phone.token,
      allSessions: false,
      sessionId: laptop.sessionId,
    });
    expect([await live(phone.token), await live(laptop.token), await live(tablet.token)]).toEqual([
      true,
      false,
      true,
    ]);
    // A revoked token ends nothing more.
    await service.signOut({
      sessionToken: laptop.token,
      allSessions: false,
      sessionId: tablet.sessionId,
    });
    expect(await live(tablet.token)).toBe(true);
  });

  it("refuses a malformed session_id, or one with all_sessions, naming session_id, and ends nothing", async () => {
    const { service, signIn } = harness();
    const phone = await signIn();
    const laptop = await signIn();
    for (const input of [
      { sessionId: "has space", allSessions: false },
      { sessionId: "x".repeat(65), allSessions: false },
      { sessionId: laptop.sessionId, allSessions: true },
    ]) {
      expect(
        await refusalOf(service.signOut({ sessionToken: phone.token, ...input })),
      ).toMatchObject({
        kind: "invalid_argument",
        field: "session_id",
      });
    }
    expect((await service.getStatus({ sessionToken: laptop.token })).authenticated).toBe(true);
    expect((await service.getStatus({ sessionToken: phone.token })).authenticated).toBe(true);
  });
});
