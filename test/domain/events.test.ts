import { describe, expect, it } from "vitest";
import type { OtpEvents } from "../../src/domain/ports.js";
import { createDomainHarness } from "../support/domain-harness.js";
import { refusalOf } from "../support/refusal.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

const email = "ann@example.com";

/** Events as a list of names; refusals as `refused:<kind>`. */
function recordEvents() {
  const seen: string[] = [];
  const events: OtpEvents = {
    codeIssued: () => seen.push("issued"),
    codeVerified: () => seen.push("verified"),
    codeFailed: () => seen.push("failed"),
    codeLocked: () => seen.push("locked"),
    sessionLookedUp: (live) => seen.push(live ? "lookup:live" : "lookup:not_live"),
    signedOut: (scope) =>
      seen.push(
        scope === "all_sessions"
          ? "signed-out:all"
          : scope === "other_session"
            ? "signed-out:other"
            : "signed-out",
      ),
    refused: (refusal) => seen.push(`refused:${refusal.kind}`),
  };
  return { events, seen };
}

describe("what the rules report", () => {
  it("each issued, verified, wrong and locking code, and each refusal, once", async () => {
    const { events, seen } = recordEvents();
    const { service } = createDomainHarness({ events, policy: { maxAttempts: 2 } });

    await service.requestOtp({ email, purpose: "" });
    await service.verifyOtp({ email, otp: "111111", purpose: "" });
    await service.requestOtp({ email, purpose: "" });
    await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    await refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" }));
    await refusalOf(service.getStatus({ email: "not an email", serviceToken: SERVICE_TOKEN }));

    expect(seen).toEqual([
      "issued",
      "verified",
      "issued",
      "failed",
      "refused:mismatch",
      "failed",
      "locked",
      "refused:locked",
      "refused:locked",
      "refused:invalid_argument",
    ]);
  });

  it("no code issued for a replayed request", async () => {
    const { events, seen } = recordEvents();
    const { service } = createDomainHarness({ events });

    await service.requestOtp({ email, purpose: "", idempotencyKey: "k" });
    await service.requestOtp({ email, purpose: "", idempotencyKey: "k" });

    expect(seen).toEqual(["issued"]);
  });

  it("a failed delivery as a refusal, and no code issued", async () => {
    const { events, seen } = recordEvents();
    const { service, sender } = createDomainHarness({ events });
    sender.fail(new Error("no route"));

    await refusalOf(service.requestOtp({ email, purpose: "" }));

    expect(seen).toEqual(["refused:delivery_failed"]);
  });

  it("concurrent wrong codes: exactly the attempt limit counted, and one lock", async () => {
    const { events, seen } = recordEvents();
    const { service, policy } = createDomainHarness({ events });
    await service.requestOtp({ email, purpose: "" });

    await Promise.all(
      Array.from({ length: 10 }, () =>
        refusalOf(service.verifyOtp({ email, otp: "999999", purpose: "" })),
      ),
    );

    const count = (name: string) => seen.filter((event) => event === name).length;
    expect(count("failed")).toBe(policy.maxAttempts);
    expect(count("locked")).toBe(1);
    expect(count("refused:mismatch") + count("refused:locked")).toBe(10);
  });

  it("session lookups by GetStatus and ListSessions, and each scope of SignOut", async () => {
    const { events, seen } = recordEvents();
    const { service, sender } = createDomainHarness({ events, codes: ["111111"] });
    const signIn = async () => {
      await service.requestOtp({ email, purpose: "" });
      return (await service.verifyOtp({ email, otp: sender.lastCodeFor(email), purpose: "" }))
        .session;
    };
    const phone = await signIn();
    const laptop = await signIn();
    seen.length = 0;
    await service.getStatus({ sessionToken: phone.token });
    await service.listSessions({ sessionToken: phone.token });
    await service.signOut({
      sessionToken: phone.token,
      allSessions: false,
      sessionId: laptop.sessionId,
    });
    await service.listSessions({ sessionToken: laptop.token });
    await service.signOut({ sessionToken: phone.token, allSessions: true });
    await service.signOut({ sessionToken: phone.token, allSessions: false });
    expect(seen).toEqual([
      "lookup:live",
      "lookup:live",
      "signed-out:other",
      "lookup:not_live",
      "signed-out:all",
      "signed-out",
    ]);
  });
});
