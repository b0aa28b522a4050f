import { describe, expect, it } from "vitest";
import { createConsoleSender } from "../../src/delivery/console-sender.js";
import { createDiscardSender } from "../../src/delivery/discard-sender.js";
import type { Refusal } from "../../src/domain/errors.js";
import type { OtpEvents } from "../../src/domain/ports.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { claimsOf } from "../support/fakes.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

// Accounts named by the application's own id (seed B's user_id) instead of an email: every rule
// applies to them as to an email, and they never meet an email account.

const MINUTE = 60_000;
const ID = "user-42";

/** Each RPC that names an account, called with `name` (and whatever else it needs). */
const namingCalls = (service: ReturnType<typeof createDomainHarness>["service"]) => ({
  requestOtp: (name: { email?: string; externalId?: string }) =>
    service.requestOtp({ ...name, purpose: "" }),
  verifyOtp: (name: { email?: string; externalId?: string }) =>
    service.verifyOtp({ ...name, otp: "111111", purpose: "" }),
  // As the trusted service that asks about an account does (closed by default).
  getStatus: (name: { email?: string; externalId?: string }) =>
    service.getStatus({ ...name, serviceToken: SERVICE_TOKEN }),
});

describe("naming an account by external id", () => {
  it("takes 1 to 128 visible ASCII characters as they are: case-sensitive, not trimmed", async () => {
    const { service, sender } = createDomainHarness();
    const ids = [ID, "User-42", "x", "~".repeat(128), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"];
    for (const externalId of ids) {
      await service.requestOtp({ externalId, purpose: "" });
    }
    expect(sender.sentToExternalIds.map((d) => d.externalId)).toEqual(ids);
    expect(sender.sent).toEqual([]);
  });

  it("refuses a malformed id on every RPC, naming external_id", async () => {
    const { service, sender } = createDomainHarness();
    const calls = namingCalls(service);
    const malformed = [
      "x".repeat(129),
      " user-42",
      "user-42 ",
      "user 42",
      "tab\tid",
      "new\nline",
      "nul\u0000",
      "del\u007f",
      "caf\u00e9",
      "zero\u200bwidth",
    ];
    for (const externalId of malformed) {
      for (const [rpc, call] of Object.entries(calls)) {
        expect(
          await refusalOf(call({ externalId })),
          `${rpc} ${JSON.stringify(externalId)}`,
        ).toMatchObject({ kind: "invalid_argument", field: "external_id" });
      }
    }
    expect(sender.sentToExternalIds).toEqual([]);
  });

  it("refuses both names at once, naming external_id, and neither as a missing email", async () => {
    const { service, sender } = createDomainHarness();
    for (const [rpc, call] of Object.entries(namingCalls(service))) {
      expect(await refusalOf(call({ email: "ann@example.com", externalId: ID })), rpc).toEqual({
        kind: "invalid_argument",
        field: "external_id",
        description: "name the account by email or external_id, not both",
      });
      for (const neither of [{}, { email: "", externalId: "" }, { email: "  " }]) {
        const refusal = await refusalOf(call(neither));
        expect(refusal, rpc).toMatchObject({ kind: "invalid_argument", field: "email" });
        expect(refusal.kind === "invalid_argument" && refusal.description).toContain("external_id");
      }
    }
    expect(sender.sent).toEqual([]);
    expect(sender.sentToExternalIds).toEqual([]);
  });

  it("refuses a session token together with an external id, naming session_token", async () => {
    const { service } = createDomainHarness();
    const sessionToken = "a-session-token-of-enough-length";
    expect(
      await refusalOf(
        service.getStatus({ externalId: ID, sessionToken, serviceToken: SERVICE_TOKEN }),
      ),
    ).toMatchObject({
      kind: "invalid_argument",
      field: "session_token",
    });
  });
});

describe("an external-id account's code", () => {
  it("goes to the sender's external-id delivery, with no email, and verifies", async () => {
    const { service, sender } = createDomainHarness();
    const issued = await service.requestOtp({ externalId: ID, purpose: "reset" });
    expect(sender.sentToExternalIds).toEqual([
      {
        otpId: issued.otpId,
        externalId: ID,
        purpose: "reset",
        code: "111111",
        expiresAt: issued.expiresAt,
      },
    ]);
    expect(sender.sent).toEqual([]);
    const verified = await service.verifyOtp({ externalId: ID, otp: "111111", purpose: "reset" });
    expect(verified.session.userId).toBeTruthy();
  });

  it("is a different account from the email spelled the same, and from another case", async () => {
    const { service, store } = createDomainHarness({ codes: ["111111", "222222", "333333"] });
    await service.requestOtp({ externalId: "ann@example.com", purpose: "" });
    await service.requestOtp({ externalId: "Ann@example.com", purpose: "" });
    // The external id's code is no code of the mailbox, nor of the id in another case.
    expect(
      await refusalOf(service.verifyOtp({ email: "ann@example.com", otp: "111111", purpose: "" })),
    ).toMatchObject({ kind: "not_found" });
    expect(
      await refusalOf(
        service.verifyOtp({ externalId: "Ann@example.com", otp: "111111", purpose: "" }),
      ),
    ).toMatchObject({ kind: "mismatch" });
    await service.verifyOtp({ externalId: "ann@example.com", otp: "111111", purpose: "" });
    expect(
      await service.getStatus({ externalId: "ann@example.com", serviceToken: SERVICE_TOKEN }),
    ).toMatchObject({
      authenticated: true,
    });
    expect(
      await service.getStatus({ email: "ann@example.com", serviceToken: SERVICE_TOKEN }),
    ).toEqual({
      authenticated: false,
    });
    expect(
      await service.getStatus({ externalId: "ANN@example.com", serviceToken: SERVICE_TOKEN }),
    ).toEqual({
      authenticated: false,
    });
    // The mailbox keeps its own whole quota.
    const mailbox = await service.requestOtp({ email: "ann@example.com", purpose: "" });
    expect(mailbox.remainingRequests).toBe(2);
    expect(
      (
        await store.readOtpState({
          email: "ann@example.com",
          purpose: "login",
          otpId: null,
          now: 0,
          failureWindowMs: 1,
        })
      ).code?.otpId,
    ).toBe(mailbox.otpId);
  });
});

describe("the rules, for an external-id account", () => {
  it("limits the codes issued to the account, across purposes", async () => {
    const { service, clock } = createDomainHarness();
    expect((await service.requestOtp({ externalId: ID, purpose: "" })).remainingRequests).toBe(2);
    expect((await service.requestOtp({ externalId: ID, purpose: "reset" })).remainingRequests).toBe(
      1,
    );
    clock.advance(10 * MINUTE);
    expect((await service.requestOtp({ externalId: ID, purpose: "" })).remainingRequests).toBe(0);
    expect(await refusalOf(service.requestOtp({ externalId: ID, purpose: "" }))).toEqual({
      kind: "request_limit",
      retryAfterMs: 50 * MINUTE,
    });
    // Another id, and the email of the same spelling, have their own.
    expect(
      (await service.requestOtp({ externalId: "user-43", purpose: "" })).remainingRequests,
    ).toBe(2);
  });

  it("counts its requests against the client's address", async () => {
    const { service } = createDomainHarness({
      policy: { ipRequestLimit: { count: 2, windowMs: 15 * MINUTE } },
    });
    const clientIp = "192.0.2.7";
    await service.requestOtp({ externalId: "a", purpose: "", clientIp });
    await service.requestOtp({ email: "b@example.com", purpose: "", clientIp });
    expect(
      await refusalOf(service.requestOtp({ externalId: "c", purpose: "", clientIp })),
    ).toMatchObject({ kind: "ip_limit" });
  });

  it("locks unbound verification of (account, purpose) after the third wrong code", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ externalId: ID, purpose: "" });
    const wrong = () => service.verifyOtp({ externalId: ID, otp: "999999", purpose: "" });
    expect(await refusalOf(wrong())).toEqual({ kind: "mismatch", attemptsRemaining: 2 });
    expect(await refusalOf(wrong())).toEqual({ kind: "mismatch", attemptsRemaining: 1 });
    expect(await refusalOf(wrong())).toEqual({
      kind: "locked",
      retryAfterMs: 10 * MINUTE,
      scope: "unbound",
    });
    expect(
      await refusalOf(service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" })),
    ).toMatchObject({ kind: "locked" });
    // A code asked for during the lock verifies with its otp_id.
    const during = await service.requestOtp({ externalId: ID, purpose: "" });
    await service.verifyOtp({ externalId: ID, otp: "222222", purpose: "", otpId: during.otpId });
    // The email spelled like the id is not locked.
    await service.requestOtp({ email: `${ID}@example.com`, purpose: "" });
  });

  it("replays an idempotency key per account: the same key for another account is new", async () => {
    const { service, sender } = createDomainHarness();
    const first = await service.requestOtp({ externalId: ID, purpose: "", idempotencyKey: "k" });
    expect(await service.requestOtp({ externalId: ID, purpose: "", idempotencyKey: "k" })).toEqual(
      first,
    );
    expect(sender.sentToExternalIds).toHaveLength(1);
    expect(
      await refusalOf(
        service.requestOtp({ externalId: ID, purpose: "reset", idempotencyKey: "k" }),
      ),
    ).toEqual({ kind: "idempotency_mismatch" });
    const other = await service.requestOtp({
      externalId: "user-43",
      purpose: "",
      idempotencyKey: "k",
    });
    expect(other.otpId).not.toBe(first.otpId);
    // The same key and text, once as an external id and once as an email: two accounts.
    const byId = await service.requestOtp({
      externalId: "ann@example.com",
      purpose: "",
      idempotencyKey: "k",
    });
    const byEmail = await service.requestOtp({
      email: "ann@example.com",
      purpose: "reset",
      idempotencyKey: "k",
    });
    expect(byEmail.otpId).not.toBe(byId.otpId);
    expect(sender.sent).toHaveLength(1);
  });

  it("keeps one user id for the account through new codes and sessions", async () => {
    const { service } = createDomainHarness({ codes: ["111111", "222222"] });
    await service.requestOtp({ externalId: ID, purpose: "" });
    const first = await service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" });
    await service.requestOtp({ externalId: ID, purpose: "reset" });
    const second = await service.verifyOtp({ externalId: ID, otp: "222222", purpose: "reset" });
    expect(second.session.userId).toBe(first.session.userId);
  });
});

describe("sessions and access tokens of an external-id account", () => {
  it("signs `sub` = user id and `ext` = the external id, with no `email` claim", async () => {
    const { service, signer } = createDomainHarness();
    await service.requestOtp({ externalId: ID, purpose: "" });
    const verified = await service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" });
    expect(signer.signed).toHaveLength(1);
    const claims = signer.signed[0];
    expect(claims).toMatchObject({ sub: verified.session.userId, ext: ID, purpose: "login" });
    expect(claims?.email).toBeUndefined();
    // What the signer writes: no email key at all.
    expect(claimsOf(verified.accessToken.token)).not.toHaveProperty("email");
  });

  it("answers GetStatus by session token with the external id, and a token that says it", async () => {
    const { service, signer, clock } = createDomainHarness();
    await service.requestOtp({ externalId: ID, purpose: "" });
    const verified = await service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" });
    clock.advance(MINUTE);
    const status = await service.getStatus({ sessionToken: verified.session.token });
    expect(status.session).toMatchObject({
      account: { externalId: ID },
      userId: verified.session.userId,
      purpose: "login",
    });
    expect(status.session?.account.email).toBeUndefined();
    expect(signer.signed[1]).toMatchObject({ ext: ID, sub: verified.session.userId });
    expect(signer.signed[1]?.email).toBeUndefined();
  });

  it("answers GetStatus by external id behind the service tokens, as by email", async () => {
    const token = "a-service-token-of-at-least-32-characters";
    const { service, clock } = createDomainHarness({ serviceTokens: [token] });
    expect(await refusalOf(service.getStatus({ externalId: ID }))).toEqual({
      kind: "caller_unauthenticated",
    });
    expect(await service.getStatus({ externalId: ID, serviceToken: token })).toEqual({
      authenticated: false,
    });
    await service.requestOtp({ externalId: ID, purpose: "" });
    const verified = await service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" });
    expect(await service.getStatus({ externalId: ID, serviceToken: token })).toEqual({
      authenticated: true,
      authenticatedAt: clock.now(),
    });
    await service.signOut({ sessionToken: verified.session.token, allSessions: true });
    expect(await service.getStatus({ externalId: ID, serviceToken: token })).toEqual({
      authenticated: false,
    });
  });
});

describe("a sender that cannot reach an external id", () => {
  it.each([
    ["console", () => createConsoleSender({ write: () => true })],
    ["discard", () => createDiscardSender()],
  ])("(%s) refuses the request up front: no quota used, no code stored", async (_name, make) => {
    const store = createMemoryStore();
    const refused: Refusal[] = [];
    const events: OtpEvents = {
      codeIssued() {},
      codeVerified() {},
      sessionLookedUp() {},
      signedOut() {},
      codeFailed() {},
      codeLocked() {},
      refused: (refusal) => refused.push(refusal),
    };
    const { service } = createDomainHarness({ store, sender: make(), events });
    for (let i = 0; i < 5; i++) {
      const error = await service
        .requestOtp({
          externalId: ID,
          purpose: "",
          idempotencyKey: `k-${i}`,
          clientIp: "192.0.2.1",
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        refusal: { kind: "external_id_delivery_unavailable" },
        message: expect.stringContaining("OTP_SENDER=webhook"),
      });
    }
    expect(refused).toHaveLength(5);
    expect(
      await refusalOf(service.verifyOtp({ externalId: ID, otp: "111111", purpose: "" })),
    ).toEqual({ kind: "not_found" });
    // Emails are served as ever by the same sender.
    await service.requestOtp({ email: "ann@example.com", purpose: "" });

    // The same store with a sender that can reach the id: its whole quota, per account and per IP,
    // and its idempotency keys are untouched.
    const able = createDomainHarness({
      store,
      policy: { ipRequestLimit: { count: 1, windowMs: 15 * MINUTE } },
    });
    const issued = await able.service.requestOtp({
      externalId: ID,
      purpose: "",
      idempotencyKey: "k-0",
      clientIp: "192.0.2.1",
    });
    expect(issued.remainingRequests).toBe(2);
  });
});
