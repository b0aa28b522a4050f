import { describe, expect, it } from "vitest";
import type { OtpDelivery, OtpSender } from "../../src/domain/ports.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";

// A caller whose deadline passed or who went away (the transport aborts the call's signal): the
// rules stop at their next step and the abort's reason is the answer (the transport's
// DEADLINE_EXCEEDED or CANCELED).

const EMAIL = "ann@example.com";

function gone(): AbortSignal {
  const controller = new AbortController();
  controller.abort(new Error("the caller went away"));
  return controller.signal;
}

/** A sender that waits until the caller's signal aborts, and tells which signal it was given. */
function createWaitingSender() {
  const signals: (AbortSignal | undefined)[] = [];
  let begin: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    begin = resolve;
  });
  const sender: OtpSender & { signals: typeof signals; started: Promise<void> } = {
    signals,
    started,
    send(_delivery: OtpDelivery, signal?: AbortSignal) {
      signals.push(signal);
      begin();
      return new Promise<void>((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };
  return sender;
}

describe("a caller who has gone", () => {
  it("gets no code from RequestOtp and uses no quota", async () => {
    const { service, sender } = createDomainHarness();
    const signal = gone();

    await expect(service.requestOtp({ email: EMAIL, purpose: "", signal })).rejects.toBe(
      signal.reason,
    );

    expect(sender.sent).toEqual([]);
    expect((await service.requestOtp({ email: EMAIL, purpose: "" })).remainingRequests).toBe(2);
  });

  it("stops the delivery in progress; the code never verifies and the quota is given back", async () => {
    const sender = createWaitingSender();
    const { service, store, clock, policy } = createDomainHarness({ sender });
    const controller = new AbortController();

    const requested = service.requestOtp({ email: EMAIL, purpose: "", signal: controller.signal });
    await sender.started;
    controller.abort(new Error("deadline passed"));

    await expect(requested).rejects.toThrow("deadline passed");
    expect(sender.signals).toEqual([controller.signal]);
    expect(
      await refusalOf(service.verifyOtp({ email: EMAIL, otp: "111111", purpose: "" })),
    ).toEqual({ kind: "not_found" });
    // The account's quota from this (unknown) network is whole.
    const slot = await store.takeSlots({
      slotId: "probe",
      now: clock.now(),
      limits: [{ bucket: `email:${EMAIL} unknown`, limit: policy.requestLimit }],
    });
    expect(slot).toEqual({ granted: true, remaining: [2] });
  });

  it("has no code checked by VerifyOtp and no failure counted", async () => {
    const { service } = createDomainHarness({ policy: { maxAttempts: 1 } });
    await service.requestOtp({ email: EMAIL, purpose: "" });
    const signal = gone();

    await expect(
      service.verifyOtp({ email: EMAIL, otp: "999999", purpose: "", signal }),
    ).rejects.toBe(signal.reason);

    // With one attempt allowed, a counted failure would have locked the pair.
    expect(await service.verifyOtp({ email: EMAIL, otp: "111111", purpose: "" })).toHaveProperty(
      "authenticatedAt",
    );
  });
});
