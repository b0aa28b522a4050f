import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;

describe("RequestOtp", () => {
  it("issues a code that expires after the TTL and delivers it", async () => {
    const { service, sender, clock } = createDomainHarness();
    const issued = await service.requestOtp({ email: "ann@example.com", purpose: "" });
    expect(issued).toEqual({
      otpId: "otp-1",
      expiresAt: clock.now() + 5 * MINUTE,
      ttlMs: 5 * MINUTE,
      remainingRequests: 2,
      codeLength: 6,
    });
    expect(sender.sent).toEqual([
      {
        otpId: "otp-1",
        email: "ann@example.com",
        purpose: "login",
        code: "111111",
        expiresAt: issued.expiresAt,
      },
    ]);
  });

  it("treats addresses that differ only in case and surrounding space as one", async () => {
    const { service, sender } = createDomainHarness();
    await service.requestOtp({ email: "  Ann@Example.COM ", purpose: "" });
    expect(sender.sent[0]?.email).toBe("ann@example.com");
    await service.verifyOtp({ email: "ANN@example.com", otp: "111111", purpose: "" });
    expect(
      await service.getStatus({ email: "ann@EXAMPLE.com", serviceToken: SERVICE_TOKEN }),
    ).toMatchObject({
      authenticated: true,
    });
  });

  it("treats an address written with decomposed accents as the composed one (NFC)", async () => {
    const { service, sender } = createDomainHarness();
    const composed = "jos\u00e9@example.com";
    const decomposed = "jose\u0301@example.com";
    await service.requestOtp({ email: decomposed, purpose: "" });
    expect(sender.sent[0]?.email).toBe(composed);
    await service.verifyOtp({ email: composed, otp: "111111", purpose: "" });
    expect(
      await service.getStatus({ email: decomposed, serviceToken: SERVICE_TOKEN }),
    ).toMatchObject({ authenticated: true });
  });

  it("refuses an address holding an invisible format character, naming the email", async () => {
    const { service, sender } = createDomainHarness();
    // zero-width space, zero-width joiner, left-to-right mark, right-to-left override, BOM
    for (const hidden of ["\u200b", "\u200d", "\u200e", "\u202e", "\ufeff"]) {
      for (const email of [`ann${hidden}@example.com`, `ann@exam${hidden}ple.com`]) {
        expect(await refusalOf(service.requestOtp({ email, purpose: "" })), email).toMatchObject({
          kind: "invalid_argument",
          field: "email",
        });
        expect(
          await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" })),
        ).toMatchObject({ kind: "invalid_argument", field: "email" });
        expect(
          await refusalOf(service.getStatus({ email, serviceToken: SERVICE_TOKEN })),
        ).toMatchObject({
          kind: "invalid_argument",
          field: "email",
        });
      }
    }
    expect(sender.sent).toEqual([]);
  });

  it("accepts values at their limits: a 254-character email and a 32-character purpose", async () => {
    const { service, sender } = createDomainHarness();
    // 64-character local part (its own limit) + "@" + 189-character domain = 254.
    const email = `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    expect(email).toHaveLength(254);
    const purpose = `p${"x".repeat(31)}`;
    await service.requestOtp({ email, purpose });
    expect(sender.sent[0]).toMatchObject({ email, purpose });
    await service.verifyOtp({ email, otp: "111111", purpose });
    expect(await refusalOf(service.requestOtp({ email: `${email}d`, purpose }))).toMatchObject({
      kind: "invalid_argument",
      field: "email",
    });
    expect(
      await refusalOf(service.requestOtp({ email: "ann@example.com", purpose: `${purpose}x` })),
    ).toMatchObject({ kind: "invalid_argument", field: "purpose" });
  });

  it("answers a new and a known email alike", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email: "known@example.com", purpose: "" });
    const known = await service.requestOtp({ email: "known@example.com", purpose: "" });
    const fresh = await service.requestOtp({ email: "new@example.com", purpose: "" });
    expect(Object.keys(fresh).sort()).toEqual(Object.keys(known).sort());
    expect(fresh.ttlMs).toBe(known.ttlMs);
    expect(fresh.codeLength).toBe(known.codeLength);
  });

  it("allows three codes per email in any rolling hour, across purposes", async () => {
    const { service, clock } = createDomainHarness();
    const email = "ann@example.com";
    await service.requestOtp({ email, purpose: "login" });
    clock.advance(10 * MINUTE);
    await service.requestOtp({ email, purpose: "reset" });
    clock.advance(10 * MINUTE);
    const third = await service.requestOtp({ email, purpose: "login" });
    expect(third.remainingRequests).toBe(0);
    expect(await refusalOf(service.requestOtp({ email, purpose: "signup" }))).toEqual({
      kind: "request_limit",
      retryAfterMs: 40 * MINUTE,
    });
    clock.advance(40 * MINUTE);
    const again = await service.requestOtp({ email, purpose: "login" });
    expect(again.remainingRequests).toBe(0);
  });

  it("does not count refused requests against the email", async () => {
    const { service, clock } = createDomainHarness();
    const email = "ann@example.com";
    for (let i = 0; i < 3; i++) {
      await service.requestOtp({ email, purpose: "" });
    }
    for (let i = 0; i < 5; i++) {
      await refusalOf(service.requestOtp({ email, purpose: "" }));
    }
    clock.advance(60 * MINUTE);
    const next = await service.requestOtp({ email, purpose: "" });
    expect(next.remainingRequests).toBe(2);
  });

  it("limits requests per client IP, and the refusal uses none of the email's quota", async () => {
    const { service } = createDomainHarness({
      policy: { ipRequestLimit: { count: 2, windowMs: 15 * MINUTE } },
    });
    await service.requestOtp({ email: "a@example.com", purpose: "", clientIp: "192.0.2.1" });
    await service.requestOtp({ email: "b@example.com", purpose: "", clientIp: "192.0.2.1" });
    expect(
      await refusalOf(
        service.requestOtp({ email: "c@example.com", purpose: "", clientIp: "192.0.2.1" }),
      ),
    ).toEqual({ kind: "ip_limit", retryAfterMs: 15 * MINUTE });
    const other = await service.requestOtp({
      email: "c@example.com",
      purpose: "",
      clientIp: "192.0.2.2",
    });
    expect(other.remainingRequests).toBe(2);
  });

  it("counts an IPv6 client by its /64 network, so rotating addresses inside it does not help", async () => {
    const { service } = createDomainHarness({
      policy: { ipRequestLimit: { count: 2, windowMs: 15 * MINUTE } },
    });
    const from = (email: string, clientIp: string) =>
      service.requestOtp({ email, purpose: "", clientIp });
    await from("a@example.com", "2001:db8:1:2::1");
    await from("b@example.com", "2001:0db8:0001:0002:ffff:ffff:ffff:fffe");
    expect(await refusalOf(from("c@example.com", "2001:db8:1:2:abcd::9"))).toEqual({
      kind: "ip_limit",
      retryAfterMs: 15 * MINUTE,
    });
    // The neighbouring /64 is another subscriber.
    await from("c@example.com", "2001:db8:1:3::1");
  });

  it("counts an IPv4-mapped IPv6 client as the IPv4 address it maps", async () => {
    const { service } = createDomainHarness({
      policy: { ipRequestLimit: { count: 2, windowMs: 15 * MINUTE } },
    });
    const from = (email: string, clientIp: string) =>
      service.requestOtp({ email, purpose: "", clientIp });
    await from("a@example.com", "192.0.2.7");
    await from("b@example.com", "::ffff:192.0.2.7");
    expect((await refusalOf(from("c@example.com", "::ffff:c000:207"))).kind).toBe("ip_limit");
    // Another IPv4 address, also written mapped, is not in the same bucket.
    await from("c@example.com", "::ffff:192.0.2.8");
  });

  it("checks the email limit before the IP limit", async () => {
    const { service } = createDomainHarness({
      policy: {
        requestLimit: { count: 1, windowMs: 60 * MINUTE },
        ipRequestLimit: { count: 1, windowMs: 15 * MINUTE },
      },
    });
    await service.requestOtp({ email: "a@example.com", purpose: "", clientIp: "192.0.2.1" });
    const refusal = await refusalOf(
      service.requestOtp({ email: "a@example.com", purpose: "", clientIp: "192.0.2.1" }),
    );
    expect(refusal.kind).toBe("request_limit");
  });

  it("has no IP limit when it is disabled", async () => {
    const { service } = createDomainHarness({ policy: { ipRequestLimit: null } });
    for (let i = 0; i < 20; i++) {
      await service.requestOtp({ email: `u${i}@example.com`, purpose: "", clientIp: "192.0.2.1" });
    }
  });

  it("replaces the previous code for the same email and purpose", async () => {
    const { service } = createDomainHarness({ codes: ["111111", "222222"] });
    const email = "ann@example.com";
    await service.requestOtp({ email, purpose: "" });
    await service.requestOtp({ email, purpose: "" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toEqual({
      kind: "mismatch",
      attemptsRemaining: 2,
    });
    await service.verifyOtp({ email, otp: "222222", purpose: "" });
  });

  it("keeps one active code per purpose", async () => {
    const { service } = createDomainHarness({ codes: ["111111", "222222"] });
    const email = "ann@example.com";
    await service.requestOtp({ email, purpose: "login" });
    await service.requestOtp({ email, purpose: "reset" });
    await service.verifyOtp({ email, otp: "111111", purpose: "login" });
    await service.verifyOtp({ email, otp: "222222", purpose: "reset" });
  });

  it("serves an email and purpose whose unbound verification is locked: the new code verifies bound", async () => {
    const { service, clock } = createDomainHarness({ codes: ["111111", "222222"] });
    const email = "ann@example.com";
    await service.requestOtp({ email, purpose: "" });
    for (let i = 0; i < 3; i++) {
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    }
    clock.advance(4 * MINUTE);
    const during = await service.requestOtp({ email, purpose: "" });
    // Unbound, the lock still holds; bound to its request, the new code is judged.
    expect(await refusalOf(service.verifyOtp({ email, otp: "222222", purpose: "" }))).toEqual({
      kind: "locked",
      retryAfterMs: 6 * MINUTE,
      scope: "unbound",
    });
    await service.verifyOtp({ email, otp: "222222", purpose: "", otpId: during.otpId });
  });

  describe("when delivery fails", () => {
    it("reports it, uses no quota, and the previous code keeps working", async () => {
      const { service, sender } = createDomainHarness({ codes: ["111111", "222222", "333333"] });
      const email = "ann@example.com";
      await service.requestOtp({ email, purpose: "" });
      sender.fail(new Error("smtp down"));
      expect(await refusalOf(service.requestOtp({ email, purpose: "" }))).toEqual({
        kind: "delivery_failed",
        otpId: expect.any(String),
      });
      sender.fail(null);
      await service.verifyOtp({ email, otp: "111111", purpose: "" });
      const next = await service.requestOtp({ email, purpose: "" });
      expect(next.remainingRequests).toBe(1);
    });

    it("never lets the undelivered code verify", async () => {
      const { service, sender } = createDomainHarness({ codes: ["222222"] });
      const email = "ann@example.com";
      sender.fail(new Error("timeout: may or may not have been sent"));
      await refusalOf(service.requestOtp({ email, purpose: "" }));
      expect(await refusalOf(service.verifyOtp({ email, otp: "222222", purpose: "" }))).toEqual({
        kind: "not_found",
      });
    });

    it("gives back the IP slot too", async () => {
      const { service, sender } = createDomainHarness({
        policy: { ipRequestLimit: { count: 1, windowMs: 15 * MINUTE } },
      });
      sender.fail(new Error("down"));
      await refusalOf(
        service.requestOtp({ email: "a@example.com", purpose: "", clientIp: "192.0.2.1" }),
      );
      sender.fail(null);
      await service.requestOtp({ email: "a@example.com", purpose: "", clientIp: "192.0.2.1" });
    });
  });

  it("rejects malformed input naming the field, before anything else", async () => {
    const { service, sender } = createDomainHarness();
    const field = async (input: Parameters<typeof service.requestOtp>[0]) => {
      const refusal = await refusalOf(service.requestOtp(input));
      return refusal.kind === "invalid_argument" ? refusal.field : refusal.kind;
    };
    expect(await field({ email: "", purpose: "" })).toBe("email");
    expect(await field({ email: "not-an-email", purpose: "" })).toBe("email");
    expect(await field({ email: "\uFFFD\uFFFD@example.com", purpose: "" })).toBe("email");
    expect(await field({ email: "ann\u0000@example.com", purpose: "" })).toBe("email");
    expect(await field({ email: `${"a".repeat(250)}@b.co`, purpose: "" })).toBe("email");
    expect(await field({ email: "a@b.co", purpose: "Login" })).toBe("purpose");
    expect(await field({ email: "a@b.co", purpose: "x".repeat(33) })).toBe("purpose");
    expect(await field({ email: "a@b.co", purpose: "", idempotencyKey: "" })).toBe(
      "idempotency_key",
    );
    expect(await field({ email: "a@b.co", purpose: "", idempotencyKey: "has space" })).toBe(
      "idempotency_key",
    );
    expect(await field({ email: "a@b.co", purpose: "", idempotencyKey: "k".repeat(256) })).toBe(
      "idempotency_key",
    );
    expect(sender.sent).toEqual([]);
  });
});
