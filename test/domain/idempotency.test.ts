import { describe, expect, it } from "vitest";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";

const HOUR = 3_600_000;

describe("RequestOtp with an idempotency key", () => {
  it("replays the first response without a new code or quota", async () => {
    const { service, sender } = createDomainHarness();
    const input = { email: "ann@example.com", purpose: "", idempotencyKey: "key-1" };
    const first = await service.requestOtp(input);
    const again = await service.requestOtp(input);
    expect(again).toEqual(first);
    expect(sender.sent).toHaveLength(1);
    const other = await service.requestOtp({ email: "ann@example.com", purpose: "" });
    expect(other.remainingRequests).toBe(1);
  });

  it("replays even when the email is now over its limit or locked", async () => {
    const { service } = createDomainHarness();
    const email = "ann@example.com";
    const first = await service.requestOtp({ email, purpose: "", idempotencyKey: "k" });
    await service.requestOtp({ email, purpose: "" });
    await service.requestOtp({ email, purpose: "" });
    for (let i = 0; i < 3; i++) {
      await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    }
    expect(await service.requestOtp({ email, purpose: "", idempotencyKey: "k" })).toEqual(first);
  });

  it("accepts a 255-character key and refuses a longer one", async () => {
    const { service } = createDomainHarness();
    const key = "k".repeat(255);
    const first = await service.requestOtp({
      email: "ann@example.com",
      purpose: "",
      idempotencyKey: key,
    });
    expect(
      await service.requestOtp({ email: "ann@example.com", purpose: "", idempotencyKey: key }),
    ).toEqual(first);
    expect(
      await refusalOf(
        service.requestOtp({ email: "ann@example.com", purpose: "", idempotencyKey: `${key}k` }),
      ),
    ).toMatchObject({ kind: "invalid_argument", field: "idempotency_key" });
  });

  it("refuses keys with non-ASCII, control or blank characters, naming the key", async () => {
    const { service, sender } = createDomainHarness();
    for (const idempotencyKey of [
      "",
      "caf\u00e9",
      "key\u200b",
      "a b",
      "tab\tkey",
      "nul\u0000",
      "del\u007f",
      "\u{1f511}",
    ]) {
      expect(
        await refusalOf(
          service.requestOtp({ email: "ann@example.com", purpose: "", idempotencyKey }),
        ),
        JSON.stringify(idempotencyKey),
      ).toMatchObject({ kind: "invalid_argument", field: "idempotency_key" });
    }
    expect(sender.sent).toEqual([]);
  });

  it("refuses the same key with a different purpose", async () => {
    const { service } = createDomainHarness();
    await service.requestOtp({ email: "ann@example.com", purpose: "login", idempotencyKey: "k" });
    expect(
      await refusalOf(
        service.requestOtp({ email: "ann@example.com", purpose: "reset", idempotencyKey: "k" }),
      ),
    ).toEqual({ kind: "idempotency_mismatch" });
  });

  it("scopes keys per email", async () => {
    const { service } = createDomainHarness();
    const a = await service.requestOtp({
      email: "a@example.com",
      purpose: "",
      idempotencyKey: "k",
    });
    const b = await service.requestOtp({
      email: "b@example.com",
      purpose: "",
      idempotencyKey: "k",
    });
    expect(b.otpId).not.toBe(a.otpId);
  });

  it("forgets a key after 24 hours", async () => {
    const { service, clock } = createDomainHarness();
    const input = { email: "ann@example.com", purpose: "", idempotencyKey: "k" };
    const first = await service.requestOtp(input);
    clock.advance(24 * HOUR);
    const later = await service.requestOtp(input);
    expect(later.otpId).not.toBe(first.otpId);
  });

  it("does not remember a refused request, so a retry with the key can succeed", async () => {
    const { service, sender } = createDomainHarness();
    const input = { email: "ann@example.com", purpose: "", idempotencyKey: "k" };
    sender.fail(new Error("down"));
    await refusalOf(service.requestOtp(input));
    sender.fail(null);
    const retried = await service.requestOtp(input);
    expect(retried.remainingRequests).toBe(2);
  });

  it("issues once when calls with the same key race", async () => {
    const { service, sender } = createDomainHarness();
    const input = { email: "ann@example.com", purpose: "", idempotencyKey: "race" };
    const results = await Promise.all(Array.from({ length: 10 }, () => service.requestOtp(input)));
    expect(new Set(results.map((r) => r.otpId)).size).toBe(1);
    expect(sender.sent).toHaveLength(1);
  });
});
