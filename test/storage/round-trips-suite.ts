import { describe, expect, it } from "vitest";
import { createOtpService } from "../../src/domain/otp-service.js";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { defaultPolicy } from "../../src/domain/policy.js";
import {
  createFakeClock,
  createFixedRandom,
  createRecordingSender,
  createRecordingSigner,
  createRecordingVerifier,
} from "../support/fakes.js";
import { SERVICE_TOKEN } from "../support/service-token.js";

/** Counts what a store sent to its database; each engine's test counts in its own driver. */
export interface RoundTripCounter {
  /** Round trips since the counter was last reset. */
  count(): number;
  reset(): void;
}

/**
 * What docs/storage.md's round-trip tables say, counted, for a store whose every round trip to
 * the database `counter` sees: one per step, so the RPCs cost what the table says.
 */
export function describeRoundTrips(engine: string, store: OtpStore, counter: RoundTripCounter) {
  // One service for every case: its fixed random source hands out each user id once.
  const clock = createFakeClock();
  const service = createOtpService({
    store,
    clock,
    sender: createRecordingSender(),
    random: createFixedRandom(["123456"]),
    policy: defaultPolicy,
    hmacKey: new Uint8Array(32).fill(1),
    accessTokens: createRecordingSigner(),
    accessTokenVerifier: createRecordingVerifier(),
    tokenAuthority: { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" },
    serviceTokens: [SERVICE_TOKEN],
  });
  const counted = async <T>(call: () => Promise<T>) => {
    counter.reset();
    const result = await call();
    return { result, queries: counter.count() };
  };

  describe(`round trips to ${engine}`, () => {
    it("RequestOtp takes two, its three limits taken in one; two more with an idempotency key", async () => {
      const request = (extra: object) =>
        counted(() => service.requestOtp({ email: "bob@example.com", purpose: "", ...extra }));
      expect((await request({ clientIp: "192.0.2.1" })).queries).toBe(2);
      // No client address (or OTP_IP_REQUEST_LIMIT=off): no per-IP slot, the same one step.
      expect((await request({})).queries).toBe(2);
      expect((await request({ clientIp: "192.0.2.1", idempotencyKey: "k1" })).queries).toBe(4);
    });

    it("VerifyOtp takes one, right or wrong, bound or unbound; one more to say why it refused", async () => {
      // A verification of dee's code, bound to `otpId` or (null) to the latest; a refusal is its result.
      const verify = (otp: string, otpId: string | null) =>
        counted(() =>
          service
            .verifyOtp({ email: "dee@example.com", otp, purpose: "", ...(otpId && { otpId }) })
            .catch((error: unknown) => error),
        );
      // Wrong: the store counts it against the code in the same step; then right: used.
      const wrongThenRight = async (otpId: string | null) => {
        expect(await verify("654321", otpId)).toMatchObject({
          result: { refusal: { kind: "mismatch" } },
          queries: 1,
        });
        expect(await verify("123456", otpId)).toMatchObject({
          result: { session: { userId: expect.any(String) } },
          queries: 1,
        });
      };
      const { otpId } = await service.requestOtp({ email: "dee@example.com", purpose: "" });
      await wrongThenRight(otpId);
      // Refused (here: used), the read says why.
      expect(await verify("123456", otpId)).toMatchObject({
        result: { refusal: { kind: "already_used" } },
        queries: 2,
      });
      // Unbound alike: the store finds the latest code by the key the digits make.
      await service.requestOtp({ email: "dee@example.com", purpose: "" });
      await wrongThenRight(null);
    });

    it("VerifyOtp takes one; GetStatus, IntrospectToken and SignOut take one", async () => {
      await service.requestOtp({ email: "ann@example.com", purpose: "" });
      const verify = await counted(() =>
        service.verifyOtp({ email: "ann@example.com", otp: "123456", purpose: "" }),
      );
      expect(verify.queries).toBe(1);
      const sessionToken = verify.result.session.token;
      expect((await counted(() => service.getStatus({ email: "", sessionToken }))).queries).toBe(1);
      expect(
        (
          await counted(() =>
            service.getStatus({ email: "ann@example.com", serviceToken: SERVICE_TOKEN }),
          )
        ).queries,
      ).toBe(1);
      const introspected = (token: string) =>
        counted(() => service.introspectToken({ token, serviceToken: SERVICE_TOKEN }));
      expect(await introspected(sessionToken)).toMatchObject({
        result: { active: true },
        queries: 1,
      });
      expect(await introspected(verify.result.accessToken.token)).toMatchObject({
        result: { active: true },
        queries: 1,
      });
      expect(
        (await counted(() => service.signOut({ sessionToken, allSessions: true }))).queries,
      ).toBe(1);
    });

    it("a session's use takes one whether or not it marks the session seen; ListSessions and ending another device take one", async () => {
      const signIn = async () => {
        await service.requestOtp({ email: "cy@example.com", purpose: "" });
        return (await service.verifyOtp({ email: "cy@example.com", otp: "123456", purpose: "" }))
          .session;
      };
      const phone = await signIn();
      const laptop = await signIn();
      const lastSeen = async () =>
        (await store.findSessionById(phone.sessionId))?.lastSeenAt ?? Number.NaN;
      const createdAt = await lastSeen();
      // Not due (within the minute): one round trip, and nothing written.
      clock.advance(30_000);
      const early = await counted(() => service.getStatus({ sessionToken: phone.token }));
      expect(early).toMatchObject({ result: { authenticated: true }, queries: 1 });
      expect(await lastSeen()).toBe(createdAt);
      // Due: still one round trip, the mark moved by the same statement.
      clock.advance(60_000);
      const due = await counted(() => service.getStatus({ sessionToken: phone.token }));
      expect(due).toMatchObject({ result: { authenticated: true }, queries: 1 });
      expect(await lastSeen()).toBe(clock.now());
      clock.advance(60_000);
      const listed = await counted(() => service.listSessions({ sessionToken: phone.token }));
      expect(listed.queries).toBe(1);
      expect(listed.result.map((s) => s.sessionId)).toEqual([laptop.sessionId, phone.sessionId]);
      expect(await lastSeen()).toBe(clock.now());
      const endLaptop = await counted(() =>
        service.signOut({
          sessionToken: phone.token,
          allSessions: false,
          sessionId: laptop.sessionId,
        }),
      );
      expect(endLaptop.queries).toBe(1);
      expect(await service.getStatus({ sessionToken: laptop.token })).toEqual({
        authenticated: false,
      });
    });
  });
}
