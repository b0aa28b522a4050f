import type { ConsumeOutcome, OtpState, OtpStore } from "../../domain/otp-store.js";
import { consumeRefusal } from "../consume-refusal.js";
import type { Query } from "./query.js";

type CodeSteps = Pick<OtpStore, "readOtpState" | "activateCode" | "consumeCode" | "recordFailure">;

interface StateRow {
  otp_id: string | null;
  code_hash: Buffer | null;
  issued_at: number | null;
  expires_at: number | null;
  used_at: number | null;
  locked_until: number | null;
}

// The active code and the lock of (:email, :purpose), one row whether or not either exists.
const STATE_COLUMNS = `c.otp_id, c.code_hash, c.issued_at, c.expires_at, c.used_at, a.locked_until
   FROM (SELECT 1 AS one) AS k
   LEFT JOIN otp_codes c ON c.email = :email AND c.purpose = :purpose
   LEFT JOIN otp_attempts a ON a.email = :email AND a.purpose = :purpose`;

// otp_users has two unique keys, and an upsert's ON DUPLICATE KEY UPDATE runs for a clash on
// either: on user_id, it would update another email's row. Only the email's own row may be
// updated; a clash on user_id (another email holds that id) sets NULL into a NOT NULL column,
// which strict mode refuses, failing the batch as PostgreSQL's ON CONFLICT (email) fails then.
const SAME_EMAIL_ONLY = "user_id = IF(email = :email, user_id, NULL)";

const stateOf = (row: StateRow | undefined): OtpState => ({
  code:
    row?.otp_id != null &&
    row.code_hash !== null &&
    row.issued_at !== null &&
    row.expires_at !== null
      ? {
          otpId: row.otp_id,
          codeHash: new Uint8Array(row.code_hash),
          issuedAt: row.issued_at,
          expiresAt: row.expires_at,
          usedAt: row.used_at,
        }
      : null,
  lockedUntil: row?.locked_until ?? null,
});

/**
 * Codes and failed attempts (tables otp_codes, otp_attempts). Each step is one batch in one round
 * trip; the writing ones are a transaction serialised on row locks, taken in one order (the code
 * row, then the attempts row, then the user row) so that concurrent steps wait rather than
 * deadlock. A code is used by one guarded UPDATE (`… AND used_at IS NULL`), whose outcome
 * (`ROW_COUNT()`) decides the rest of the batch; a failure is counted on the attempts row locked
 * by an upsert.
 */
export function createCodeSteps(query: Query): CodeSteps {
  return {
    async readOtpState(email, purpose) {
      const rows = (await query(`SELECT ${STATE_COLUMNS}`, { email, purpose })).rows<StateRow>();
      return stateOf(rows[0]);
    },

    async activateCode(code) {
      await query(
        `START TRANSACTION;
         INSERT INTO otp_codes (email, purpose, otp_id, code_hash, issued_at, expires_at, used_at, retain_until)
         VALUES (:email, :purpose, :otpId, :codeHash, :issuedAt, :expiresAt, NULL, :retainUntil)
         ON DUPLICATE KEY UPDATE otp_id = :otpId, code_hash = :codeHash, issued_at = :issuedAt,
           expires_at = :expiresAt, used_at = NULL, retain_until = :retainUntil;
         INSERT INTO otp_users (email, user_id, created_at, retain_until)
         VALUES (:email, :userId, :issuedAt, :retainUntil)
         ON DUPLICATE KEY UPDATE ${SAME_EMAIL_ONLY};
         COMMIT`,
        {
          email: code.email,
          purpose: code.purpose,
          otpId: code.otpId,
          codeHash: Buffer.from(code.codeHash),
          issuedAt: code.issuedAt,
          expiresAt: code.expiresAt,
          retainUntil: code.retainUntil,
          userId: code.userId,
        },
      );
    },

    // One batch: the guarded UPDATE wins or not (@otp_won), and the rest of the batch acts only
    // for the winner: clear the failures, upsert the user, insert the session from the user row.
    // So no session exists without its code used, nor a used code without its session. The last
    // SELECT reads, after the UPDATE, what the pair looks like: the winner's user id, or why not.
    async consumeCode(use): Promise<ConsumeOutcome> {
      const rows = (
        await query(
          `START TRANSACTION;
           UPDATE otp_codes SET used_at = :now
            WHERE email = :email AND purpose = :purpose AND otp_id = :otpId
              AND used_at IS NULL AND expires_at > :now
              AND NOT EXISTS (SELECT 1 FROM otp_attempts
                               WHERE email = :email AND purpose = :purpose AND locked_until > :now);
           SET @otp_won = ROW_COUNT();
           DELETE FROM otp_attempts WHERE email = :email AND purpose = :purpose AND @otp_won = 1;
           INSERT INTO otp_users (email, user_id, created_at, authenticated_at, retain_until)
           SELECT :email, :userId, :now, :now, :retainUntil FROM DUAL WHERE @otp_won = 1
           ON DUPLICATE KEY UPDATE ${SAME_EMAIL_ONLY}, authenticated_at = :now,
             retain_until = GREATEST(retain_until, :retainUntil);
           INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at,
                                     last_seen_at, client_address, user_agent)
           SELECT :tokenHash, :sessionId, user_id, :email, :purpose, :now, :sessionExpiresAt,
                  :now, :clientAddress, :userAgent
             FROM otp_users WHERE email = :email AND @otp_won = 1;
           SELECT @otp_won = 1 AS won, u.user_id, ${STATE_COLUMNS}
             LEFT JOIN otp_users u ON u.email = :email;
           COMMIT`,
          {
            email: use.email,
            purpose: use.purpose,
            otpId: use.otpId,
            now: use.now,
            retainUntil: use.retainUntil,
            userId: use.userId,
            tokenHash: Buffer.from(use.session.tokenHash),
            sessionId: use.session.sessionId,
            sessionExpiresAt: use.session.expiresAt,
            clientAddress: use.session.clientAddress,
            userAgent: use.session.userAgent,
          },
        )
      ).rows<StateRow & { won: number; user_id: string | null }>();
      const row = rows[0];
      if (row?.won === 1 && row.user_id !== null) {
        return { kind: "consumed", userId: row.user_id };
      }
      return consumeRefusal(stateOf(row), use.otpId, use.now);
    },

    // The code row is locked first (as consumeCode does), then the attempts row by an upsert
    // that creates it if missing. Whether this failure counts (@otp_counted: not locked at :now)
    // is read under that lock. The UPDATE's assignments read only columns not yet assigned, so
    // they mean the same whether the engine assigns left to right (MySQL) or all at once
    // (MariaDB's SIMULTANEOUS_ASSIGNMENT): a count whose lockUntil passed starts again from one,
    // and the failure reaching :lockAt locks and burns the code.
    async recordFailure(failure) {
      const rows = (
        await query(
          `START TRANSACTION;
           SELECT otp_id FROM otp_codes WHERE email = :email AND purpose = :purpose FOR UPDATE;
           INSERT INTO otp_attempts (email, purpose, failures, locked_until, retain_until)
           VALUES (:email, :purpose, 0, NULL, :now)
           ON DUPLICATE KEY UPDATE failures = failures;
           SET @otp_counted = (SELECT locked_until IS NULL OR locked_until <= :now FROM otp_attempts
                                WHERE email = :email AND purpose = :purpose);
           UPDATE otp_attempts
              SET locked_until = IF(IF(retain_until <= :now, 1, failures + 1) >= :lockAt, :lockUntil, NULL),
                  failures = IF(retain_until <= :now, 1, failures + 1),
                  retain_until = :lockUntil
            WHERE email = :email AND purpose = :purpose AND @otp_counted = 1;
           DELETE FROM otp_codes
            WHERE email = :email AND purpose = :purpose AND @otp_counted = 1
              AND EXISTS (SELECT 1 FROM otp_attempts
                           WHERE email = :email AND purpose = :purpose AND locked_until IS NOT NULL);
           SELECT @otp_counted = 1 AS counted, failures, locked_until FROM otp_attempts
            WHERE email = :email AND purpose = :purpose;
           COMMIT`,
          {
            email: failure.email,
            purpose: failure.purpose,
            now: failure.now,
            lockAt: failure.lockAt,
            lockUntil: failure.lockUntil,
          },
        )
      ).rows<{ counted: number; failures: number; locked_until: number | null }>();
      const row = rows[0];
      return {
        failures: row?.counted === 1 ? row.failures : 0,
        lockedUntil: row?.locked_until ?? null,
      };
    },
  };
}
