import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "../../gen/auth/v1/admin_pb.js";
import type { OtpService } from "../domain/otp-service.js";
import { bearerToken } from "./bearer-token.js";
import { callOf } from "./call-context.js";

/** The account a request names (exactly one of the three) and the operator's credential. */
function namedAccount(
  req: { email: string; userId: string; externalId: string },
  ctx: HandlerContext,
) {
  return {
    email: req.email,
    userId: req.userId,
    externalId: req.externalId,
    serviceToken: bearerToken(ctx.requestHeader.get("authorization")),
  };
}

/** AdminService handlers: translate wire messages to domain calls and back, nothing more. */
export function createAdminHandlers(service: OtpService): ServiceImpl<typeof AdminService> {
  return {
    async getUser(req, ctx) {
      const user = await service.getUser(namedAccount(req, ctx));
      return {
        userId: user.userId,
        // One of the two names the account; the other stays empty.
        email: user.account.email ?? "",
        externalId: user.account.externalId ?? "",
        createdAt: timestampFromMs(user.createdAt),
        lastAuthenticatedAt:
          user.lastAuthenticatedAt === undefined
            ? undefined
            : timestampFromMs(user.lastAuthenticatedAt),
        liveSessions: user.liveSessions,
      };
    },

    async revokeSessions(req, ctx) {
      const revoked = await service.revokeUserSessions({
        ...namedAccount(req, ctx),
        // The audit events the call writes carry its request id.
        requestId: callOf(ctx.values)?.requestId,
      });
      return { revoked };
    },

    async deleteUser(req, ctx) {
      const deleted = await service.deleteUser({
        ...namedAccount(req, ctx),
        // The audit events the call writes carry its request id.
        requestId: callOf(ctx.values)?.requestId,
      });
      return { deleted };
    },

    async listAuditEvents(req, ctx) {
      const page = await service.listAuditEvents({
        ...namedAccount(req, ctx),
        // Rounded up to the millisecond events are kept in: `since` stays inclusive.
        since:
          req.since === undefined
            ? undefined
            : Number(req.since.seconds) * 1000 + Math.ceil(req.since.nanos / 1_000_000),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return {
        events: page.events.map((event) => ({ ...event, at: timestampFromMs(event.at) })),
        nextPageToken: page.nextPageToken,
      };
    },
  };
}
