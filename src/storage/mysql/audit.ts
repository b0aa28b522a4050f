import { type AuditContext, auditContextOrDefault } from "../../domain/audit-event.js";
import type { OtpStore, StoredAuditEvent } from "../../domain/otp-store.js";
import { type AuditEventRow, storedAuditEventOf } from "../audit-event-row.js";
import type { Query } from "./query.js";

type AuditSteps = Pick<OtpStore, "recordDeliveryFailure" | "listAuditEvents">;

/**
 * The columns an event is inserted with, for `INSERT INTO otp_audit_events ${AUDIT_INSERT}
 * SELECT …`: the batches of codes.ts, sessions.ts and users.ts write the events of their change
 * in the transaction that makes it.
 */
export const AUDIT_INSERT = `(type, at, email, user_id, purpose, session_id, client_address,
                              user_agent, request_id, reason, retain_until)`;

/**
 * An event's request fields as the named parameters `:auditRequestId`, `:auditClientAddress`,
 * `:auditUserAgent` and `:auditUntil`.
 */
export function auditParams(audit: AuditContext | undefined, now: number) {
  const { requestId, clientAddress, userAgent, retainUntil } = auditContextOrDefault(audit, now);
  return {
    auditRequestId: requestId,
    auditClientAddress: clientAddress,
    auditUserAgent: userAgent,
    auditUntil: retainUntil,
  };
}

/** The request fields of AUDIT_INSERT, in its order, as SQL over auditParams. */
export const AUDIT_REQUEST = ":auditClientAddress, :auditUserAgent, :auditRequestId";

interface EventRow extends AuditEventRow {
  at: number | string;
}

/** The audit trail's steps of their own (table otp_audit_events): each one statement. */
export function createAuditSteps(query: Query): AuditSteps {
  return {
    async recordDeliveryFailure({ email, purpose, now, audit }) {
      await query(
        `INSERT INTO otp_audit_events ${AUDIT_INSERT}
         SELECT 'otp.delivery_failed', :now, :email,
                COALESCE((SELECT user_id FROM otp_users WHERE email = :email), ''),
                :purpose, '', ${AUDIT_REQUEST}, '', :auditUntil FROM DUAL`,
        { email, purpose, now, ...auditParams(audit, now) },
      );
    },

    async listAuditEvents({ user, since, after, limit }): Promise<StoredAuditEvent[]> {
      const rows = (
        await query(
          `SELECT seq, type, at, user_id, purpose, session_id, client_address, user_agent,
                  request_id, reason
             FROM otp_audit_events
            WHERE ${user.email !== undefined ? "email" : "user_id"} = :ref AND at >= :since
              AND (:afterAt IS NULL OR at > :afterAt OR (at = :afterAt AND seq > :afterSeq))
            ORDER BY at, seq LIMIT ${Math.max(0, Math.trunc(limit))}`,
          {
            ref: user.email ?? user.userId,
            since,
            afterAt: after?.at ?? null,
            afterSeq: after?.seq ?? 0,
          },
        )
      ).rows<EventRow>();
      return rows.map((row) => storedAuditEventOf(row, Number(row.at)));
    },
  };
}
