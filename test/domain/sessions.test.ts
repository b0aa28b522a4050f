import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const email = "ann@example.com";

/** A harness with a signed-in `email`; returns the verification's answer too. */
async function signedIn(options: Parameters<typeof createDomainHarness>[0] = {}) {
  const harness = createDomainHarness(options);
  await harness.service.requestOtp({ email, purpose: "" });
  const verified = await harness.service.verifyOtp({ email, otp: "111111", purpose: "" });
  /** Logs `who` in again for `purpose`, with the code the sender last delivered: a new session. */
  const logIn = async (who: string, purpose: string) => {
    await harness.service.requestOtp({ email: who, purpose });
    return harness.service.verifyOtp({ email: who, otp: harness.sender.lastCodeFor(who), purpose });
  };
  return { ...harness, verified, logIn };
}

describe("sessions", () => {
  it("a verification starts a session and answers its token and a signed access token", async () => {
    const { verified, clock, signer, policy } = await signedIn();
    const now = clock.now();
    expect(verified.session).toEqual({
      token: expect.stringMatching(/^[A-Za-z0-9_-]{22,}$/),
      sessionId: expect.any(String),
      userId: expect.any(String),
      expiresAt: now + policy.sessionTtlMs,
    });
    expect(signer.signed).toEqual([
      {
        sub: verified.session.userId,
        email,
        purpose: "login",
        sid: verified.session.sessionId,
        jti: expect.any(String),
        iat: Math.floor(now / 1000),
        exp: Math.floor((now + policy.accessTokenTtlMs) / 1000),
        amr: ["otp"],
      },
    ]);
    expect(verified.accessToken.expiresAt).toBe(now + policy.accessTokenTtlMs);
  });

  it("looks a live session up by its token, with a fresh access token each time", async () => {
    const { service, verified, clock, signer } = await signedIn();
    clock.advance(MINUTE);
    const status = await service.getStatus({ email: "", sessionToken: verified.session.token });
    expect(status).toEqual({
      authenticated: true,
      authenticatedAt: clock.now() - MINUTE,
      session: {
        sessionId: verified.session.sessionId,
        userId: verified.session.userId,
        account: { email },
        purpose: "login",
        expiresAt: verified.session.expiresAt,
        accessToken: { token: expect.any(String), expiresAt: clock.now() + 15 * MINUTE },
      },
    });
    expect(signer.signed).toHaveLength(2);
    expect(signer.signed[1]?.jti).not.toBe(signer.signed[0]?.jti);
  });

  it("never lets an access token outlive its session", async () => {
    const { service, verified, clock } = await signedIn({ policy: { sessionTtlMs: 20 * MINUTE } });
    clock.advance(10 * MINUTE);
    const status = await service.getStatus({ email: "", sessionToken: verified.session.token });
    expect(status.session?.accessToken.expiresAt).toBe(verified.session.expiresAt);
  });

  it("answers an unknown, an expired and a revoked token alike: only not authenticated", async () => {
    const { service, verified } = await signedIn();
    const unknown = await service.getStatus({ email: "", sessionToken: "x".repeat(43) });
    await service.signOut({ sessionToken: verified.session.token, allSessions: false });
    const revoked = await service.getStatus({ email: "", sessionToken: verified.session.token });
    const other = await signedIn();
    other.clock.advance(24 * HOUR);
    const expired = await other.service.getStatus({
      email: "",
      sessionToken: other.verified.session.token,
    });
    expect(unknown).toEqual({ authenticated: false });
    expect(revoked).toEqual(unknown);
    expect(expired).toEqual(unknown);
  });

  it("refuses a malformed token, and a token together with an email, naming session_token", async () => {
    const { service, verified } = await signedIn();
    for (const sessionToken of [
      "short",
      "has spaces in it, which tokens never do",
      "é".repeat(30),
    ]) {
      expect(await refusalOf(service.getStatus({ email: "", sessionToken }))).toMatchObject({
        kind: "invalid_argument",
        field: "session_token",
      });
      expect(await refusalOf(service.signOut({ sessionToken, allSessions: false }))).toMatchObject({
        kind: "invalid_argument",
        field: "session_token",
      });
    }
    expect(
      await refusalOf(service.getStatus({ email, sessionToken: verified.session.token })),
    ).toMatchObject({ kind: "invalid_argument", field: "session_token" });
    expect(
      await refusalOf(service.signOut({ sessionToken: "", allSessions: false })),
    ).toMatchObject({
      kind: "invalid_argument",
      field: "session_token",
    });
  });

  it("signs out one session; the user's other sessions stay live", async () => {
    const { service, verified, logIn } = await signedIn();
    const second = await logIn(email, "reset");
    expect(second.session.userId).toBe(verified.session.userId);
    await service.signOut({ sessionToken: verified.session.token, allSessions: false });
    await service.signOut({ sessionToken: verified.session.token, allSessions: false });
    const status = (token: string) => service.getStatus({ email: "", sessionToken: token });
    expect((await status(verified.session.token)).authenticated).toBe(false);
    expect((await status(second.session.token)).authenticated).toBe(true);
    expect((await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).authenticated).toBe(
      true,
    );
  });

  it("signs out every session of the user with all_sessions, and the email turns false", async () => {
    const { service, verified, logIn } = await signedIn();
    const second = await logIn(email, "reset");
    const bob = await logIn("bob@example.com", "");
    await service.signOut({ sessionToken: second.session.token, allSessions: true });
    const status = (token: string) => service.getStatus({ email: "", sessionToken: token });
    expect((await status(verified.session.token)).authenticated).toBe(false);
    expect((await status(second.session.token)).authenticated).toBe(false);
    expect((await status(bob.session.token)).authenticated).toBe(true);
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: false,
    });
    expect(
      (await service.getStatus({ email: "bob@example.com", serviceToken: SERVICE_TOKEN }))
        .authenticated,
    ).toBe(true);
  });

  it("signing out an unknown token answers like a known one", async () => {
    const { service } = await signedIn();
    await expect(
      service.signOut({ sessionToken: "y".repeat(43), allSessions: true }),
    ).resolves.toBeUndefined();
  });

  it("an email is authenticated while it has a live session, at its latest verification", async () => {
    const { service, verified, clock, logIn } = await signedIn();
    const first = clock.now();
    clock.advance(HOUR);
    await logIn(email, "reset");
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: true,
      authenticatedAt: first + HOUR,
    });
    clock.advance(23 * HOUR);
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: true,
      authenticatedAt: first + HOUR,
    });
    clock.advance(HOUR);
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: false,
    });
    expect(verified.session.expiresAt).toBe(first + 24 * HOUR);
  });

  it("with service tokens set, an email lookup needs one of them; a session lookup does not", async () => {
    const { service, verified } = await signedIn({
      serviceTokens: [SERVICE_TOKEN, "t".repeat(40)],
    });
    const wrong = [undefined, "", SERVICE_TOKEN.slice(0, -1), `${SERVICE_TOKEN}s`, "wrong"];
    for (const serviceToken of wrong) {
      expect(await refusalOf(service.getStatus({ email, serviceToken }))).toEqual({
        kind: "caller_unauthenticated",
      });
    }
    expect((await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).authenticated).toBe(
      true,
    );
    expect((await service.getStatus({ email, serviceToken: "t".repeat(40) })).authenticated).toBe(
      true,
    );
    expect(
      (await service.getStatus({ email: "", sessionToken: verified.session.token })).authenticated,
    ).toBe(true);
  });

  it("with no service tokens, an email lookup is refused to everyone by default (closed)", async () => {
    const { service, verified, policy } = await signedIn({ serviceTokens: [] });
    expect(policy.statusByEmail).toBe("closed");
    for (const serviceToken of [undefined, "", SERVICE_TOKEN]) {
      expect(await refusalOf(service.getStatus({ email, serviceToken }))).toEqual({
        kind: "caller_unauthenticated",
      });
    }
    // Refused before the email is read: a malformed one says nothing either.
    expect(await refusalOf(service.getStatus({ email: "@" }))).toEqual({
      kind: "caller_unauthenticated",
    });
    expect(
      (await service.getStatus({ email: "", sessionToken: verified.session.token })).authenticated,
    ).toBe(true);
  });

  it("with no service tokens and statusByEmail open, anyone may look an email up", async () => {
    const { service } = await signedIn({ serviceTokens: [], policy: { statusByEmail: "open" } });
    expect((await service.getStatus({ email })).authenticated).toBe(true);
    expect((await service.getStatus({ email, serviceToken: "anything" })).authenticated).toBe(true);
  });

  it("open does not loosen configured service tokens: they still gate", async () => {
    const { service } = await signedIn({ policy: { statusByEmail: "open" } });
    expect(await refusalOf(service.getStatus({ email }))).toEqual({
      kind: "caller_unauthenticated",
    });
    expect((await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).authenticated).toBe(
      true,
    );
  });

  it("of many concurrent verifications with the right code, exactly one starts a session", async () => {
    const { service, store } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => service.verifyOtp({ email, otp: "111111", purpose: "" })),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won).toHaveLength(1);
    expect(await store.readAuthentication(email, Date.UTC(2026, 0, 1))).not.toBeNull();
  });
});
