import type { AuditEventType } from "../domain/audit-event.js";
import type { StoredAuditEvent } from "../domain/otp-store.js";

/**
 * An otp_audit_events row as the SQL stores read it (audit.ts of postgres and mysql): each driver
 * gives `seq` and `at` in its own type, so `at` is handed over as epoch milliseconds.
 */
export interface AuditEventRow {
  seq: number | string;
  type: AuditEventType;
  user_id: string;
  purpose: string;
  session_id: string;
  client_address: string;
  user_agent: string;
  request_id: string;
  reason: string;
}

/** The stored event of `row`, which happened at `at` (epoch milliseconds). */
export function storedAuditEventOf(row: AuditEventRow, at: number): StoredAuditEvent {
  return {
    seq: Number(row.seq),
    type: row.type,
    at,
    userId: row.user_id,
    purpose: row.purpose,
    sessionId: row.session_id,
    clientAddress: row.client_address,
    userAgent: row.user_agent,
    requestId: row.request_id,
    reason: row.reason,
  };
}
