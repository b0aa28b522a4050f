import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { OtpService } from "../domain/otp-service.js";
import { bearerToken } from "./bearer-token.js";
import { callOf } from "./call-context.js";

/** Request header carrying the RequestOtp idempotency key. */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";

/** AuthService handlers: translate wire messages to domain calls and back, nothing more. */
export function createAuthHandlers(service: OtpService): ServiceImpl<typeof AuthService> {
  return {
    async requestOtp(req, ctx) {
      const issued = await service.requestOtp({
        email: req.email,
        externalId: req.externalId,
        purpose: req.purpose,
        idempotencyKey: ctx.requestHeader.get(IDEMPOTENCY_KEY_HEADER) ?? undefined,
        // Resolved once, at the door (TRUST_PROXY); absent when no door started the call.
        clientIp: callOf(ctx.values)?.clientAddress,
        // For the audit trail's otp.requested.
        userAgent: ctx.requestHeader.get("user-agent") ?? undefined,
        requestId: callOf(ctx.values)?.requestId,
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
      const { authenticatedAt, session, accessToken } = await service.verifyOtp({
        email: req.email,
        externalId: req.externalId,
        otp: req.otp,
        purpose: req.purpose,
        otpId: req.otpId,
        // The failure cap counts by network; the session remembers where it began (masked) and
        // on what, for ListSessions.
        clientIp: callOf(ctx.values)?.clientAddress,
        userAgent: ctx.requestHeader.get("user-agent") ?? undefined,
        requestId: callOf(ctx.values)?.requestId,
        signal: ctx.signal,
      });
      return {
        authenticated: true,
        authenticatedAt: timestampFromMs(authenticatedAt),
        sessionToken: session.token,
        sessionExpiresAt: timestampFromMs(session.expiresAt),
        sessionId: session.sessionId,
        userId: session.userId,
        accessToken: accessToken.token,
        accessTokenExpiresAt: timestampFromMs(accessToken.expiresAt),
      };
    },

    async getStatus(req, ctx) {
      if (ctx.requestMethod === "GET" && req.sessionToken !== "") {
        // A URL ends up in access logs, proxies and browser history; a bearer secret must not.
        throw invalidArgument("session_token", "send session_token in a POST body, never in a URL");
      }
      const status = await service.getStatus({
        email: req.email,
        externalId: req.externalId,
        sessionToken: req.sessionToken,
        serviceToken: bearerToken(ctx.requestHeader.get("authorization")),
      });
      const session = status.session;
      return {
        authenticated: status.authenticated,
        authenticatedAt:
          status.authenticatedAt === undefined
            ? undefined
            : timestampFromMs(status.authenticatedAt),
        ...(session === undefined
          ? {}
          : {
              // One of the two names the account; the other stays empty.
              email: session.account.email ?? "",
              externalId: session.account.externalId ?? "",
              purpose: session.purpose,
              sessionId: session.sessionId,
              userId: session.userId,
              sessionExpiresAt: timestampFromMs(session.expiresAt),
              accessToken: session.accessToken.token,
              accessTokenExpiresAt: timestampFromMs(session.accessToken.expiresAt),
            }),
      };
    },

    async signOut(req, ctx) {
      await service.signOut({
        sessionToken: req.sessionToken,
        allSessions: req.allSessions,
        sessionId: req.sessionId,
        // For the audit trail's session.revoked: who ended it, from where.
        requestId: callOf(ctx.values)?.requestId,
        clientIp: callOf(ctx.values)?.clientAddress,
        userAgent: ctx.requestHeader.get("user-agent") ?? undefined,
      });
      return {};
    },

    async listSessions(req) {
      const sessions = await service.listSessions({ sessionToken: req.sessionToken });
      return {
        sessions: sessions.map((session) => ({
          sessionId: session.sessionId,
          createdAt: timestampFromMs(session.createdAt),
          lastSeenAt: timestampFromMs(session.lastSeenAt),
          expiresAt: timestampFromMs(session.expiresAt),
          purpose: session.purpose,
          clientAddress: session.clientAddress,
          userAgent: session.userAgent,
          current: session.current,
        })),
      };
    },

    async introspectToken(req, ctx) {
      // token_type_hint is a hint RFC 7662 lets a server ignore: the shapes tell the kinds apart.
      const found = await service.introspectToken({
        token: req.token,
        serviceToken: bearerToken(ctx.requestHeader.get("authorization")),
      });
      if (!found.active) {
        return { active: false };
      }
      return {
        active: true,
        userId: found.userId,
        sessionId: found.sessionId,
        expiresAt: timestampFromMs(found.expiresAt),
        issuedAt: timestampFromMs(found.issuedAt),
        issuer: found.issuer,
        audience: found.audience,
        clientId: found.clientId,
        tokenType: "Bearer",
        email: found.account.email ?? "",
        externalId: found.account.externalId ?? "",
      };
    },
  };
}
