import { describe, expect, it } from "vitest";
import { defaultPolicy } from "../../src/domain/policy.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { claimsOf, fakeAccessToken } from "../support/fakes.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;
const email = "ann@example.com";
const AUTHORITY = { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" };

/** A harness with a signed-in `email`, and introspection as a trusted service asks it. */
async function signedIn(options: Parameters<typeof createDomainHarness>[0] = {}) {
  const harness = createDomainHarness(options);
  await harness.service.requestOtp({ email, purpose: "" });
  const verified = await harness.service.verifyOtp({ email, otp: "111111", purpose: "" });
  const introspect = (token: string) =>
    harness.service.introspectToken({ token, serviceToken: SERVICE_TOKEN });
  return { ...harness, verified, introspect };
}

describe("token introspection", () => {
  it("a live session token is active: its user, session, creation, end and the token authority", async () => {
    const { verified, introspect, clock } = await signedIn();
    const createdAt = clock.now();
    clock.advance(MINUTE);
    expect(await introspect(verified.session.token)).toEqual({
      active: true,
      userId: verified.session.userId,
      sessionId: verified.session.sessionId,
      account: { email },
      issuedAt: createdAt,
      expiresAt: verified.session.expiresAt,
      ...AUTHORITY,
    });
  });

  it("a valid access token of a live session is active, with the token's own iat and exp", async () => {
    const { verified, introspect } = await signedIn();
    const claims = claimsOf(verified.accessToken.token);
    expect(await introspect(verified.accessToken.token)).toEqual({
      active: true,
      userId: verified.session.userId,
      sessionId: verified.session.sessionId,
      account: { email },
      issuedAt: (claims.iat as number) * 1000,
      expiresAt: verified.accessToken.expiresAt,
      ...AUTHORITY,
    });
  });

  it("an external-id account's tokens name it by its external id, with no email", async () => {
    const harness = createDomainHarness();
    await harness.service.requestOtp({ externalId: "user-42", purpose: "" });
    const verified = await harness.service.verifyOtp({
      externalId: "user-42",
      otp: "111111",
      purpose: "",
    });
    for (const token of [verified.session.token, verified.accessToken.token]) {
      expect(
        await harness.service.introspectToken({ token, serviceToken: SERVICE_TOKEN }),
      ).toMatchObject({ active: true, account: { externalId: "user-42" } });
    }
  });

  it("after SignOut neither the session token nor its unexpired access token is active", async () => {
    const { service, verified, introspect } = await signedIn();
    await service.signOut({ sessionToken: verified.session.token, allSessions: false });
    expect(await introspect(verified.session.token)).toEqual({ active: false });
    expect(await introspect(verified.accessToken.token)).toEqual({ active: false });
  });

  it("an access token is inactive from its exp on, though its session lives on", async () => {
    const { verified, introspect, clock } = await signedIn();
    clock.advance(defaultPolicy.accessTokenTtlMs - 1);
    expect(await introspect(verified.accessToken.token)).toMatchObject({ active: true });
    clock.advance(1);
    expect(await introspect(verified.accessToken.token)).toEqual({ active: false });
    expect(await introspect(verified.session.token)).toMatchObject({ active: true });
  });

  it("a session token is inactive from its session's end on", async () => {
    const { verified, introspect, clock } = await signedIn();
    clock.advance(defaultPolicy.sessionTtlMs);
    expect(await introspect(verified.session.token)).toEqual({ active: false });
  });

  it("anything else is only inactive: unknown, garbage, another key's, issuer or session", async () => {
    const { verified, introspect, clock } = await signedIn();
    const claims = claimsOf(verified.accessToken.token);
    const exp = Math.floor(clock.now() / 1000) + 60;
    const tokens = [
      "an-unknown-session-token-of-the-right-shape",
      "short",
      "not a token at all",
      "a.b.c",
      "a.b.c.d",
      ".".repeat(2),
      // Signed by a key the verifier does not know.
      verified.accessToken.token.replace(/\.unsigned$/, ".forged"),
      fakeAccessToken({ ...claims, iss: "someone-else" }),
      fakeAccessToken({ ...claims, sid: "session-unknown", exp }),
      fakeAccessToken({ ...claims, sub: "another-user" }),
      fakeAccessToken({ ...claims, exp: "tomorrow" }),
      fakeAccessToken({ ...claims, iat: undefined }),
      fakeAccessToken({ ...claims, sid: 7 }),
      `${verified.accessToken.token}x`.replace(/\.unsignedx$/, ".unsigned.x"),
    ];
    for (const token of tokens) {
      expect(await introspect(token), token).toEqual({ active: false });
    }
  });

  it("needs a service token, always: none, a wrong one, or none configured is refused", async () => {
    const { service, verified } = await signedIn();
    const token = verified.session.token;
    for (const serviceToken of [undefined, "", `${SERVICE_TOKEN}x`]) {
      expect(await refusalOf(service.introspectToken({ token, serviceToken }))).toEqual({
        kind: "caller_unauthenticated",
      });
    }
    // STATUS_BY_EMAIL=open opens email lookups, never introspection.
    const open = await signedIn({ serviceTokens: [], policy: { statusByEmail: "open" } });
    expect(
      await refusalOf(open.service.introspectToken({ token, serviceToken: SERVICE_TOKEN })),
    ).toEqual({ kind: "caller_unauthenticated" });
    expect(await refusalOf(open.service.introspectToken({ token }))).toEqual({
      kind: "caller_unauthenticated",
    });
  });

  it("an empty token is invalid (field token), once the caller is known", async () => {
    const { service, introspect } = await signedIn();
    expect(await refusalOf(introspect(""))).toMatchObject({
      kind: "invalid_argument",
      field: "token",
    });
    expect(await refusalOf(service.introspectToken({ token: "" }))).toEqual({
      kind: "caller_unauthenticated",
    });
  });
});
