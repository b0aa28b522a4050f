import { type AuditContext, auditContextOrDefault } from "../../domain/audit-event.js";
import type { OtpStore, StoredAuditEvent } from "../../domain/otp-store.js";
import { type AuditEventRow, storedAuditEventOf } from "../audit-event-row.js";
import { date, type Query } from "./query.js";

type AuditSteps = Pick<OtpStore, "recordDeliveryFailure" | "listAuditEvents">;

// Written by the statement of each change (codes.ts, sessions.ts, users.ts); these are the
// trail's own steps: the one event that records no change, and reading.
const COLUMNS =
  "seq, type, at, user_id, purpose, session_id, client_address, user_agent, request_id, reason";

interface EventRow extends AuditEventRow {
  at: Date;
}

// $1 the account key or user id, $2 since, $3/$4 the event the previous page ended at, $5 limit.
const PAGE = `AND at >= $2 AND ($3::timestamptz IS NULL OR (at, seq) > ($3, $4))
          ORDER BY at, seq LIMIT $5`;

/** The audit trail's steps of their own (table otp_audit_events): each one statement. */
export function createAuditSteps(query: Query): AuditSteps {
  return {
    async recordDeliveryFailure({ email, purpose, now, audit }) {
      await query(
        "otp_audit_delivery_failed",
        `INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id, client_address,
                                       user_agent, request_id, reason, retain_until)
         SELECT 'otp.delivery_failed', $2, $1, coalesce((SELECT user_id FROM otp_users WHERE email = $1), ''),
                $3, '', $5, $6, $4, '', $7`,
        [email, date(now), purpose, ...auditValues(audit, now)],
      );
    },

    async listAuditEvents({ user, since, after, limit }): Promise<StoredAuditEvent[]> {
      const values = [
        user.email ?? user.userId,
        date(since),
        after === null ? null : date(after.at),
        after?.seq ?? 0,
        limit,
      ];
      const { rows } =
        user.email !== undefined
          ? await query<EventRow>(
              "otp_audit_by_email",
              `SELECT ${COLUMNS} FROM otp_audit_events WHERE email = $1 ${PAGE}`,
              values,
            )
          : await query<EventRow>(
              "otp_audit_by_user_id",
              `SELECT ${COLUMNS} FROM otp_audit_events WHERE user_id = $1 ${PAGE}`,
              values,
            );
      return rows.map((row) => storedAuditEventOf(row, row.at.getTime()));
    },
  };
}

/**
 * An event's request fields as statement values, in this order: request id, client address,
 * user agent, retain until (see audit-event.ts `auditContextOrDefault`).
 */
export function auditValues(
  audit: AuditContext | undefined,
  now: number,
): [string, string, string, Date] {
  const { requestId, clientAddress, userAgent, retainUntil } = auditContextOrDefault(audit, now);
  return [requestId, clientAddress, userAgent, date(retainUntil)];
}
