import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../src/domain/list-audit-events.js";
import { MEMORY_AUDIT_LIMIT } from "../../src/storage/memory-store.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const email = "ann@example.com";
const asOperator = { serviceToken: SERVICE_TOKEN };
const from = { clientIp: "2001:db8:1:2::7", userAgent: "Phone/1.0" };

// The audit trail as the operations write it and ListAuditEvents reads it (SPEC.md "Session
// lifecycle"): every event type, the request it came from, masked, and pages.
describe("the audit trail in the domain", () => {
  it("records every event type with its request, masked, and never a code or token", async () => {
    const { service, sender, clock } = createDomainHarness({ codes: ["111111", "222222"] });
    sender.fail(new Error("mailbox full"));
    await refusalOf(service.requestOtp({ email, purpose: "", requestId: "r-1", ...from }));
    sender.fail(null);
    clock.advance(1_000);
    await service.requestOtp({ email, purpose: "", requestId: "r-2", ...from });
    for (const requestId of ["r-3", "r-4", "r-5"]) {
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "", requestId, ...from }));
    }
    await service.requestOtp({ email, purpose: "", requestId: "r-6", ...from });
    const code = sender.lastCodeFor(email);
    const signedIn = await service.verifyOtp({
      email,
      otp: code,
      otpId: sender.sent.at(-1)?.otpId,
      purpose: "",
      requestId: "r-7",
      ...from,
    });
    await service.signOut({ sessionToken: signedIn.session.token, allSessions: false, ...from });
    await service.deleteUser({ email, requestId: "r-9", ...asOperator });

    const { events } = await service.listAuditEvents({
      userId: signedIn.session.userId,
      ...asOperator,
    });
    expect(events.map((e) => [e.type, e.reason, e.requestId])).toEqual([
      // The first delivery failed before the user had a record: found by email, until erased.
      ["otp.requested", "", "r-2"],
      ["otp.verify_failed", "mismatch", "r-3"],
      ["otp.verify_failed", "mismatch", "r-4"],
      ["otp.verify_failed", "mismatch", "r-5"],
      ["otp.locked", "unbound", "r-5"],
      ["otp.requested", "", "r-6"],
      ["session.created", "", "r-7"],
      ["session.revoked", "sign_out", ""],
      ["user.deleted", "", "r-9"],
    ]);
    const text = JSON.stringify(events);
    for (const secret of [code, signedIn.session.token, signedIn.accessToken.token, email]) {
      expect(text).not.toContain(secret);
    }
  });

  it("tells the metrics how many events of each type it wrote", async () => {
    const told = new Map<string, number>();
    const events = {
      codeIssued() {},
      codeVerified() {},
      codeFailed() {},
      codeLocked() {},
      sessionLookedUp() {},
      signedOut() {},
      refused() {},
      audited: (type: string, count: number) => told.set(type, (told.get(type) ?? 0) + count),
    };
    const { service, sender } = createDomainHarness({
      events,
      policy: { maxAttempts: 2, requestLimit: { count: 10, windowMs: 60_000 } },
    });
    sender.fail(new Error("down"));
    await refusalOf(service.requestOtp({ email, purpose: "" }));
    sender.fail(null);
    for (let i = 0; i < 2; i++) {
      await service.requestOtp({ email, purpose: "" });
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    }
    await service.requestOtp({ email, purpose: "" });
    const otpId = sender.sent.at(-1)?.otpId;
    const a = await service.verifyOtp({
      email,
      otp: sender.lastCodeFor(email),
      otpId,
      purpose: "",
    });
    await service.requestOtp({ email, purpose: "" });
    const b = await service.verifyOtp({
      email,
      otp: sender.lastCodeFor(email),
      otpId: sender.sent.at(-1)?.otpId,
      purpose: "",
    });
    await service.signOut({ sessionToken: a.session.token, allSessions: true });
    await service.signOut({ sessionToken: b.session.token, allSessions: true });
    const { events: trail } = await service.listAuditEvents({ email, ...asOperator });
    const written = new Map<string, number>();
    for (const event of trail) {
      written.set(event.type, (written.get(event.type) ?? 0) + 1);
    }
    expect(Object.fromEntries(told)).toEqual(Object.fromEntries(written));
    expect(written.get("session.revoked")).toBe(2);
    expect(written.get("otp.locked")).toBe(1);
  });

  it("keeps the client's network masked, as a session does", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "", ...from });
    await service.requestOtp({ email, purpose: "", clientIp: "198.51.100.23" });
    const { events } = await service.listAuditEvents({ email, ...asOperator });
    expect(events.map((e) => [e.clientAddress, e.userAgent])).toEqual([
      ["2001:db8:1::/48", "Phone/1.0"],
      ["198.51.100.0/24", ""],
    ]);
  });

  it("records the delivery that failed against the account, by email", async () => {
    const { service, sender } = createDomainHarness();
    sender.fail(new Error("down"));
    expect(
      await refusalOf(service.requestOtp({ email, purpose: "", requestId: "r-1" })),
    ).toMatchObject({ kind: "delivery_failed" });
    const { events } = await service.listAuditEvents({ email, ...asOperator });
    expect(events).toMatchObject([
      { type: "otp.delivery_failed", userId: "", purpose: "login", requestId: "r-1" },
    ]);
  });

  it("records one session.revoked per session RevokeSessions ends, as admin", async () => {
    const { service, sender } = createDomainHarness({ codes: ["111111", "222222"] });
    for (let i = 0; i < 2; i++) {
      await service.requestOtp({ email, purpose: "" });
      const otpId = sender.sent.at(-1)?.otpId;
      await service.verifyOtp({ email, otp: sender.lastCodeFor(email), otpId, purpose: "" });
    }
    expect(await service.revokeUserSessions({ email, requestId: "r-admin", ...asOperator })).toBe(
      2,
    );
    const { events } = await service.listAuditEvents({ email, ...asOperator });
    const revoked = events.filter((e) => e.type === "session.revoked");
    expect(revoked.map((e) => [e.reason, e.requestId, e.clientAddress])).toEqual([
      ["admin", "r-admin", ""],
      ["admin", "r-admin", ""],
    ]);
  });

  it("pages: the default and the clamp on page_size, since inclusive, tokens that continue", async () => {
    const { service, clock } = createDomainHarness({
      policy: {
        requestLimit: { count: 1000, windowMs: 1 },
        mailboxLimit: { count: 1000, windowMs: 1 },
      },
    });
    const start = clock.now();
    for (let i = 0; i < 620; i++) {
      await service.requestOtp({ email, purpose: "", requestId: `r-${i}` });
      clock.advance(10);
    }
    const page = (input: object) => service.listAuditEvents({ email, ...asOperator, ...input });
    expect((await page({})).events).toHaveLength(DEFAULT_PAGE_SIZE);
    const big = await page({ pageSize: 100_000 });
    expect(big.events).toHaveLength(MAX_PAGE_SIZE);
    const rest = await page({ pageSize: 100_000, pageToken: big.nextPageToken });
    expect(rest.events.map((e) => e.requestId)).toEqual(
      Array.from({ length: 120 }, (_, i) => `r-${500 + i}`),
    );
    expect(rest.nextPageToken).toBe("");
    const since = await page({ since: start + 6_190, pageSize: 5 });
    expect(since.events.map((e) => e.requestId)).toEqual(["r-619"]);
    // Every page is its own request: a token names a place in the trail, not a snapshot.
    const small = await page({ pageSize: 3 });
    const next = await page({ pageSize: 3, pageToken: small.nextPageToken });
    expect(next.events.map((e) => e.requestId)).toEqual(["r-3", "r-4", "r-5"]);
  });

  it("refuses a page_token no page answered (page_token), a time no store holds (since); an unknown email is empty", async () => {
    const { service } = createDomainHarness();
    for (const pageToken of [
      "x",
      "not base64!",
      Buffer.from("a1s").toString("base64url"),
      Buffer.from(`a1s${"9".repeat(19)}`).toString("base64url"),
    ]) {
      expect(
        await refusalOf(service.listAuditEvents({ email, pageToken, ...asOperator })),
      ).toMatchObject({ kind: "invalid_argument", field: "page_token" });
    }
    for (const since of [Number.NaN, -62_135_596_800_001, 253_402_300_800_000, 1e300]) {
      expect(
        await refusalOf(service.listAuditEvents({ email, since, ...asOperator })),
      ).toMatchObject({ kind: "invalid_argument", field: "since" });
    }
    expect(await service.listAuditEvents({ email: "nobody@example.com", ...asOperator })).toEqual({
      events: [],
      nextPageToken: "",
    });
  });

  it("refuses callers without a service token, before reading the request", async () => {
    const { service } = createDomainHarness();
    expect(
      await refusalOf(service.listAuditEvents({ email: "not an address", pageToken: "x" })),
    ).toEqual({ kind: "caller_unauthenticated" });
  });

  it("keeps at most MEMORY_AUDIT_LIMIT events in memory, dropping the oldest", async () => {
    const { service, store, clock } = createDomainHarness();
    for (let i = 0; i < MEMORY_AUDIT_LIMIT; i++) {
      await store.recordDeliveryFailure({ email, purpose: "login", now: clock.now() + i });
    }
    await service.requestOtp({ email, purpose: "" });
    const first = await service.listAuditEvents({ email, pageSize: 2, ...asOperator });
    // The oldest tenth went to make room; the newest event (at the earliest time) is there.
    expect(first.events.map((e) => [e.type, e.at - clock.now()])).toEqual([
      ["otp.requested", 0],
      ["otp.delivery_failed", MEMORY_AUDIT_LIMIT / 10],
    ]);
  });
});
