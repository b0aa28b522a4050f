import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { OtpService } from "../domain/otp-service.js";
import { callOf } from "./call-context.js";

/** Request header carrying the RequestOtp idempotency key. */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/** AuthService handlers: translate wire messages to domain calls and back, nothing more. */
export function createAuthHandlers(service: OtpService): ServiceImpl<typeof AuthService> {
  return {
    async requestOtp(req, ctx) {
      const issued = await service.requestOtp({
        email: req.email,
        purpose: req.purpose,
        idempotencyKey: ctx.requestHeader.get(IDEMPOTENCY_KEY_HEADER) ?? undefined,
        // Resolved once, at the door (TRUST_PROXY); absent when no door started the call.
        clientIp: callOf(ctx.values)?.clientAddress,
        // The client's deadline or disconnect: the domain stops, and delivery with it.
        signal: ctx.signal,
      });
      return {
        otpId: issued.otpId,
        expiresAt: timestampFromMs(issued.expiresAt),
        ttl: durationFromMs(issued.ttlMs),
        remainingRequests: issued.remainingRequests,
        codeLength: issued.codeLength,
      };
    },

    async verifyOtp(req, ctx) {
      const verified = await service.verifyOtp({
        email: req.email,
        otp: req.otp,
        purpose: req.purpose,
        signal: ctx.signal,
      });
      return { authenticated: true, authenticatedAt: timestampFromMs(verified.authenticatedAt) };
    },

    async getStatus(req) {
      const status = await service.getStatus({ email: req.email });
      return {
        authenticated: status.authenticated,
        authenticatedAt:
          status.authenticatedAt === undefined
            ? undefined
            : timestampFromMs(status.authenticatedAt),
      };
    },
  };
}
