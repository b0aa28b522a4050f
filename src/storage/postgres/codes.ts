import type { AccountFailure, OtpState, OtpStore } from "../../domain/otp-store.js";
import { hmacPads } from "../hmac-pads.js";
import { sharedAccountGate } from "./account-gate.js";
import { auditValues } from "./audit.js";
import { date, millis, type Query } from "./query.js";

type CodeSteps = Pick<OtpStore, "readOtpState" | "activateCode" | "consumeCode" | "recordFailure">;

/** [[epoch ms, network], ...] as otp_failures_since writes it. */
type FailureRows = [number | string, string][];

const failuresOf = (rows: FailureRows | null): AccountFailure[] =>
  (rows ?? []).map(([at, network]) => ({ at: Number(at), network }));

/**
 * Codes, the unbound lane's attempts and the account's failures (tables otp_codes, otp_attempts,
 * otp_failures). A read is one statement; the steps that judge an attempt are the functions
 * otp_record_audited_failure (migration 5, around version 4's otp_record_failure),
 * otp_consume_code (migration 6) and otp_attempt_keyed_code (migration 7, which uses a code or
 * calls the first), which take the account's gate exclusive first (account-gate.ts) and so run
 * one at a time per account, each in one round trip. A code is used by a guarded UPDATE
 * (`… AND used_at IS NULL`) under that lock.
 */
export function createCodeSteps(query: Query): CodeSteps {
  return {
    async readOtpState({ email, purpose, otpId, now, failureWindowMs }): Promise<OtpState> {
      const { rows } = await query<{
        otp_id: string | null;
        code_hash: Buffer | null;
        issued_at: Date | null;
        expires_at: Date | null;
        used_at: Date | null;
        failures: number | null;
        unbound_burned: boolean | null;
        locked_until: Date | null;
        account_failures: FailureRows | null;
      }>(
        "otp_read_state",
        `SELECT c.otp_id, c.code_hash, c.issued_at, c.expires_at, c.used_at, c.failures,
                c.unbound_burned,
                (SELECT a.locked_until FROM otp_attempts a WHERE a.email = $1 AND a.purpose = $2)
                  AS locked_until,
                (SELECT jsonb_agg(jsonb_build_array(round(extract(epoch FROM f.at) * 1000), f.network)
                                  ORDER BY f.at)
                   FROM otp_failures f WHERE f.email = $1 AND f.at > $4) AS account_failures
           FROM (SELECT 1) AS k
           LEFT JOIN LATERAL (
             SELECT * FROM otp_codes c
              WHERE c.email = $1 AND c.purpose = $2 AND ($3::text IS NULL OR c.otp_id = $3)
              ORDER BY c.seq DESC LIMIT 1) c ON true`,
        [email, purpose, otpId, date(now - failureWindowMs)],
      );
      const row = rows[0];
      const found =
        row?.otp_id != null &&
        row.code_hash !== null &&
        row.issued_at !== null &&
        row.expires_at !== null &&
        // Burned for unbound verification: the latest code is gone for it, judged when bound.
        (otpId !== null || row.unbound_burned !== true);
      return {
        code: found
          ? {
              otpId: row.otp_id as string,
              codeHash: new Uint8Array(row.code_hash as Buffer),
              issuedAt: (row.issued_at as Date).getTime(),
              expiresAt: (row.expires_at as Date).getTime(),
              usedAt: millis(row.used_at),
              failures: row.failures ?? 0,
            }
          : null,
        lockedUntil: millis(row?.locked_until ?? null),
        failures: failuresOf(row?.account_failures ?? null),
      };
    },

    // Under the account gate (shared, account-gate.ts): an erasure of the account sees this code,
    // its user record and its event, or runs before all three, never between them. The user row
    // is upserted (a no-op update when it exists) so that its id, new or old, reaches the event.
    async activateCode(code) {
      await query(
        "otp_activate_code",
        `WITH gate AS (SELECT ${sharedAccountGate("$1")}), code AS (
           INSERT INTO otp_codes (email, purpose, otp_id, code_hash, keyed_hash, issued_at, expires_at, used_at,
                                  retain_until)
           SELECT $1::text, $2::text, $3::text, $4::bytea, $13::bytea, $5::timestamptz, $6::timestamptz, NULL,
                  $7::timestamptz
             FROM gate
         ), owner AS (
           INSERT INTO otp_users AS u (email, user_id, created_at, retain_until)
           SELECT $1::text, $8::text, $5::timestamptz, $7::timestamptz FROM gate
           ON CONFLICT (email) DO UPDATE SET retain_until = u.retain_until
           RETURNING u.user_id
         )
         INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id, client_address,
                                       user_agent, request_id, reason, retain_until)
         SELECT 'otp.requested', $5, $1, user_id, $2, '', $10, $11, $9, '', $12 FROM owner`,
        [
          code.email,
          code.purpose,
          code.otpId,
          Buffer.from(code.codeHash),
          date(code.issuedAt),
          date(code.expiresAt),
          date(code.retainUntil),
          code.userId,
          ...auditValues(code.audit, code.issuedAt),
          Buffer.from(code.keyedHash),
        ],
      );
    },

    // The session and its event are inserted by the same statement that uses the code, from the
    // user id the function answers: one round trip, and no session without its code or its
    // event. The function is otp_consume_code (migration 6) for a code the domain compared, and
    // otp_attempt_keyed_code (migration 7) for use.keyed, which finds and compares the code
    // from the key's HMAC pads and, when it is not that code, counts the attempt instead.
    async consumeCode(use) {
      const { gate, keyed } = use;
      // $21 to $24: the key's pads, the unbound lock's end, and the failure's retention.
      const keyedValues: unknown[] = [];
      if (keyed !== undefined) {
        const { inner, outer } = hmacPads(keyed.codeKey);
        keyedValues.push(inner, outer, date(keyed.lockUntil), date(use.now + gate.windowMs));
      }
      const { rows } = await query<{
        user_id: string | null;
        failures: number | null;
        locked_until: Date | null;
        account_failures: FailureRows | null;
        expires_at: Date | null;
      }>(
        keyed === undefined ? "otp_consume_code" : "otp_attempt_keyed_code",
        `WITH used AS (
           SELECT ${
             keyed === undefined
               ? `otp_consume_code($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL) AS user_id,
                  NULL::integer AS failures, NULL::timestamptz AS locked_until,
                  NULL::jsonb AS account_failures, NULL::timestamptz AS expires_at`
               : `* FROM otp_attempt_keyed_code($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                                                $21, $22, $23, $24, $17, $18, $19, $20)`
           }
         ), session AS (
           INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at,
                                     last_seen_at, client_address, user_agent)
           SELECT $12, $13, user_id, $1, $2, $6, $14, $6, $15, $16 FROM used WHERE user_id IS NOT NULL
           RETURNING user_id
         ), event AS (
           INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id, client_address,
                                         user_agent, request_id, reason, retain_until)
           SELECT 'session.created', $6, $1, user_id, $2, $13, $18, $19, $17, '', $20 FROM session
         )
         SELECT (SELECT user_id FROM session) AS user_id, u.failures, u.locked_until,
                u.account_failures, u.expires_at
           FROM used u`,
        [
          use.email,
          use.purpose,
          use.otpId,
          use.bound,
          gate.network,
          date(use.now),
          date(use.now - gate.windowMs),
          gate.maxFailures,
          gate.maxAttempts,
          date(use.retainUntil),
          use.userId,
          Buffer.from(use.session.tokenHash),
          use.session.sessionId,
          date(use.session.expiresAt),
          use.session.clientAddress,
          use.session.userAgent,
          ...auditValues(use.audit, use.now),
          ...keyedValues,
        ],
      );
      const row = rows[0];
      if (row?.user_id != null) {
        return { kind: "consumed", userId: row.user_id };
      }
      if (row?.failures != null && row.expires_at !== null) {
        return {
          kind: "mismatch",
          failure: {
            counted: true,
            failures: row.failures,
            lockedUntil: millis(row.locked_until),
            accountFailures: failuresOf(row.account_failures),
          },
          expiresAt: row.expires_at.getTime(),
        };
      }
      return { kind: "refused" };
    },

    async recordFailure(failure) {
      const { gate } = failure;
      const { rows } = await query<{
        failures: number;
        locked_until: Date | null;
        account_failures: FailureRows;
      }>(
        "otp_record_failure",
        `SELECT failures, locked_until, account_failures
           FROM otp_record_audited_failure($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                                           $12, $13, $14, $15)`,
        [
          failure.email,
          failure.purpose,
          failure.otpId,
          failure.bound,
          gate.network,
          date(failure.now),
          date(failure.now - gate.windowMs),
          gate.maxFailures,
          gate.maxAttempts,
          date(failure.lockUntil),
          date(failure.now + gate.windowMs),
          ...auditValues(failure.audit, failure.now),
        ],
      );
      const counted = rows[0];
      if (counted === undefined) {
        return { counted: false };
      }
      return {
        counted: true,
        failures: counted.failures,
        lockedUntil: millis(counted.locked_until),
        accountFailures: failuresOf(counted.account_failures),
      };
    },
  };
}
