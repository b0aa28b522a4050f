import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const email = "ann@example.com";

describe("VerifyOtp", () => {
  it("authenticates with the delivered code, at that instant", async () => {
    const { service, clock } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    clock.advance(MINUTE);
    expect(await service.verifyOtp({ email, otp: "111111", purpose: "" })).toMatchObject({
      authenticatedAt: clock.now(),
    });
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: true,
      authenticatedAt: clock.now(),
    });
  });

  it("accepts a code with surrounding whitespace, as pasted", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    await service.verifyOtp({ email, otp: " 111111\n", purpose: "" });
  });

  it("a code cannot be used twice", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    await service.verifyOtp({ email, otp: "111111", purpose: "" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toEqual({
      kind: "already_used",
    });
  });

  it("a code stops working when it expires, and that counts no failure", async () => {
    const { service, clock } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    clock.advance(5 * MINUTE - 1);
    await service.verifyOtp({ email, otp: "111111", purpose: "" });
    await service.requestOtp({ email, purpose: "" });
    clock.advance(5 * MINUTE);
    expect(await refusalOf(service.verifyOtp({ email, otp: "222222", purpose: "" }))).toEqual({
      kind: "expired",
    });
    expect(await refusalOf(service.verifyOtp({ email, otp: "000000", purpose: "" }))).toEqual({
      kind: "expired",
    });
    await service.requestOtp({ email, purpose: "" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "000000", purpose: "" }))).toEqual({
      kind: "mismatch",
      attemptsRemaining: 2,
    });
  });

  it("answers an unknown email and a known one without a code alike", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "login" });
    const unknown = await refusalOf(
      service.verifyOtp({ email: "nobody@example.com", otp: "111111", purpose: "" }),
    );
    const noCode = await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "reset" }));
    expect(unknown).toEqual({ kind: "not_found" });
    expect(noCode).toEqual(unknown);
  });

  it("a code only verifies for the purpose it was issued for", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "reset" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toEqual({
      kind: "not_found",
    });
    await service.verifyOtp({ email, otp: "111111", purpose: "reset" });
  });

  describe("wrong codes", () => {
    it("count down the attempts, and the last one locks", async () => {
      const { service, clock } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      const wrong = () => refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      expect(await wrong()).toEqual({ kind: "mismatch", attemptsRemaining: 2 });
      expect(await wrong()).toEqual({ kind: "mismatch", attemptsRemaining: 1 });
      expect(await wrong()).toEqual({
        kind: "locked",
        retryAfterMs: 10 * MINUTE,
        scope: "unbound",
      });
      clock.advance(MINUTE);
      expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toEqual({
        kind: "locked",
        retryAfterMs: 9 * MINUTE,
        scope: "unbound",
      });
    });

    it("are counted per email and purpose, so a new code does not reset them", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      await service.requestOtp({ email, purpose: "" });
      expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }))).toEqual({
        kind: "locked",
        retryAfterMs: 10 * MINUTE,
        scope: "unbound",
      });
    });

    it("are reset by a successful verification", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      await service.verifyOtp({ email, otp: "111111", purpose: "" });
      await service.requestOtp({ email, purpose: "" });
      expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }))).toEqual({
        kind: "mismatch",
        attemptsRemaining: 2,
      });
    });

    it("are forgotten a lockout after the last one", async () => {
      const { service, clock } = createDomainHarness({ policy: { codeTtlMs: HOUR } });
      await service.requestOtp({ email, purpose: "" });
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      clock.advance(10 * MINUTE);
      expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }))).toEqual({
        kind: "mismatch",
        attemptsRemaining: 2,
      });
    });

    it("lock one purpose without touching another", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "login" });
      await service.requestOtp({ email, purpose: "reset" });
      for (let i = 0; i < 3; i++) {
        await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "login" }));
      }
      await service.verifyOtp({ email, otp: "222222", purpose: "reset" });
    });
  });

  describe("after a lock ends", () => {
    it("the burned code stays dead and the count starts again from zero", async () => {
      const { service, clock } = createDomainHarness({ policy: { codeTtlMs: HOUR } });
      await service.requestOtp({ email, purpose: "" });
      for (let i = 0; i < 3; i++) {
        await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
      }
      clock.advance(10 * MINUTE);
      expect(await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "" }))).toEqual({
        kind: "not_found",
      });
      await service.requestOtp({ email, purpose: "" });
      expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }))).toEqual({
        kind: "mismatch",
        attemptsRemaining: 2,
      });
      await service.verifyOtp({ email, otp: "222222", purpose: "" });
    });
  });

  it("rejects malformed input naming the field, without counting a failure", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    for (const otp of ["", "12345", "1234567", "12345a", "１２３４５６"]) {
      expect(await refusalOf(service.verifyOtp({ email, otp, purpose: "" }))).toMatchObject({
        kind: "invalid_argument",
        field: "otp",
      });
    }
    expect(
      await refusalOf(service.verifyOtp({ email: "x", otp: "111111", purpose: "" })),
    ).toMatchObject({ kind: "invalid_argument", field: "email" });
    expect(
      await refusalOf(service.verifyOtp({ email, otp: "111111", purpose: "no spaces" })),
    ).toMatchObject({ kind: "invalid_argument", field: "purpose" });
    expect(await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }))).toEqual({
      kind: "mismatch",
      attemptsRemaining: 2,
    });
  });

  it("uses the configured code length", async () => {
    const { service } = createDomainHarness({ policy: { codeLength: 8 }, codes: ["12345678"] });
    const issued = await service.requestOtp({ email, purpose: "" });
    expect(issued.codeLength).toBe(8);
    expect(await refusalOf(service.verifyOtp({ email, otp: "123456", purpose: "" }))).toMatchObject(
      {
        field: "otp",
      },
    );
    await service.verifyOtp({ email, otp: "12345678", purpose: "" });
  });

  describe("under concurrency", () => {
    it("lets exactly one of many simultaneous right codes through", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, () => service.verifyOtp({ email, otp: "111111", purpose: "" })),
      );
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      for (const o of outcomes) {
        if (o.status === "rejected") {
          expect(o.reason.refusal).toEqual({ kind: "already_used" });
        }
      }
    });

    it("counts simultaneous wrong codes exactly", async () => {
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      const refusals = await Promise.all(
        Array.from({ length: 20 }, () =>
          refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" })),
        ),
      );
      expect(refusals.filter((r) => r.kind === "mismatch")).toHaveLength(2);
      expect(refusals.filter((r) => r.kind === "locked")).toHaveLength(18);
    });

    it("gives a guesser racing many codes no more chances than the attempt limit", async () => {
      // 1 right code among 19 wrong ones, all at once: it may only win if it is judged before
      // the failures lock the email, i.e. among the first three.
      const { service } = createDomainHarness();
      await service.requestOtp({ email, purpose: "" });
      const guesses = Array.from({ length: 20 }, (_, i) => (i === 10 ? "111111" : "999999"));
      const outcomes = await Promise.allSettled(
        guesses.map((otp) => service.verifyOtp({ email, otp, purpose: "" })),
      );
      expect(outcomes[10]?.status).toBe("rejected");
      expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
        authenticated: false,
      });
    });

    it("gives a guesser racing many codes bound to one request no more chances than its attempts", async () => {
      // The same, naming the request: every guess is compared in the step that counts it, so
      // the right one, eleventh, finds the code dead after the first three wrong ones.
      const { service } = createDomainHarness();
      const { otpId } = await service.requestOtp({ email, purpose: "" });
      const guesses = Array.from({ length: 20 }, (_, i) => (i === 10 ? "111111" : "999999"));
      const outcomes = await Promise.allSettled(
        guesses.map((otp) => service.verifyOtp({ email, otp, purpose: "", otpId })),
      );
      expect(outcomes[10]?.status).toBe("rejected");
      expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(20);
      expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
        authenticated: false,
      });
    });
  });
});

describe("GetStatus", () => {
  it("is false for an unknown email", async () => {
    const { service } = createDomainHarness();
    expect(
      await service.getStatus({ email: "nobody@example.com", serviceToken: SERVICE_TOKEN }),
    ).toEqual({
      authenticated: false,
    });
  });

  it("is false for a known email that never verified", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: false,
    });
  });

  it("stays true for the session TTL after verification, then turns false", async () => {
    const { service, clock } = createDomainHarness();
    await service.requestOtp({ email, purpose: "" });
    await service.verifyOtp({ email, otp: "111111", purpose: "" });
    const at = clock.now();
    clock.advance(24 * HOUR - 1);
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: true,
      authenticatedAt: at,
    });
    clock.advance(1);
    expect(await service.getStatus({ email, serviceToken: SERVICE_TOKEN })).toEqual({
      authenticated: false,
    });
  });

  it("rejects a malformed email naming the field", async () => {
    const { service } = createDomainHarness();
    expect(
      await refusalOf(service.getStatus({ email: "@", serviceToken: SERVICE_TOKEN })),
    ).toMatchObject({
      kind: "invalid_argument",
      field: "email",
    });
  });
});
