import type { ConsumeOutcome, OtpState, OtpStore, StoredCode } from "../../domain/otp-store.js";
import { consumeRefusal } from "../consume-refusal.js";
import { sharedAccountGate } from "./account-gate.js";
import { date, millis, type Query } from "./query.js";

type CodeSteps = Pick<OtpStore, "readOtpState" | "activateCode" | "consumeCode" | "recordFailure">;

/**
 * Codes and failed attempts (tables otp_codes, otp_attempts): a code is used by one guarded
 * UPDATE (`… AND used_at IS NULL`), a failure is counted by one upsert that re-reads the latest
 * row version. A second statement runs only to explain a refusal that a concurrent writer caused.
 */
export function createCodeSteps(query: Query): CodeSteps {
  async function readOtpState(email: string, purpose: string): Promise<OtpState> {
    const { rows } = await query<{
      otp_id: string | null;
      code_hash: Buffer | null;
      issued_at: Date | null;
      expires_at: Date | null;
      used_at: Date | null;
      locked_until: Date | null;
    }>(
      "otp_read_state",
      `SELECT c.otp_id, c.code_hash, c.issued_at, c.expires_at, c.used_at, a.locked_until
         FROM (VALUES ($1::text, $2::text)) AS k (email, purpose)
         LEFT JOIN otp_codes c ON c.email = k.email AND c.purpose = k.purpose
         LEFT JOIN otp_attempts a ON a.email = k.email AND a.purpose = k.purpose`,
      [email, purpose],
    );
    const row = rows[0];
    let code: StoredCode | null = null;
    if (row?.otp_id != null && row.code_hash !== null && row.issued_at && row.expires_at) {
      code = {
        otpId: row.otp_id,
        codeHash: new Uint8Array(row.code_hash),
        issuedAt: row.issued_at.getTime(),
        expiresAt: row.expires_at.getTime(),
        usedAt: millis(row.used_at),
      };
    }
    return { code, lockedUntil: millis(row?.locked_until ?? null) };
  }

  return {
    readOtpState,

    // Under the account gate (shared, account-gate.ts): an erasure of the account sees this code
    // and its user record, or runs before both, never between them.
    async activateCode(code) {
      await query(
        "otp_activate_code",
        `WITH gate AS (SELECT ${sharedAccountGate("$1")}), code AS (
           INSERT INTO otp_codes (email, purpose, otp_id, code_hash, issued_at, expires_at, used_at, retain_until)
           SELECT $1::text, $2::text, $3::text, $4::bytea, $5::timestamptz, $6::timestamptz, NULL, $7::timestamptz
             FROM gate
           ON CONFLICT (email, purpose) DO UPDATE SET
             otp_id = EXCLUDED.otp_id, code_hash = EXCLUDED.code_hash, issued_at = EXCLUDED.issued_at,
             expires_at = EXCLUDED.expires_at, used_at = NULL, retain_until = EXCLUDED.retain_until
         )
         INSERT INTO otp_users (email, user_id, created_at, retain_until)
         SELECT $1::text, $8::text, $5::timestamptz, $7::timestamptz FROM gate
         ON CONFLICT (email) DO NOTHING`,
        [
          code.email,
          code.purpose,
          code.otpId,
          Buffer.from(code.codeHash),
          date(code.issuedAt),
          date(code.expiresAt),
          date(code.retainUntil),
          code.userId,
        ],
      );
    },

    // The session is inserted by the same statement that uses the code, from the user row it
    // upserts: one round trip, and no session without its code or code without its session. The
    // account gate (shared) is taken before the code row is locked: a revocation or erasure of
    // the account either sees this session or comes before it (account-gate.ts).
    async consumeCode(use): Promise<ConsumeOutcome> {
      const { rows } = await query<{ user_id: string | null }>(
        "otp_consume_code",
        `WITH gate AS (SELECT ${sharedAccountGate("$1")}), lock AS (
           SELECT 1 FROM otp_attempts WHERE email = $1 AND purpose = $2 AND locked_until > $4
         ), used AS (
           UPDATE otp_codes SET used_at = $4
            WHERE email = $1 AND purpose = $2 AND otp_id = $3 AND used_at IS NULL AND expires_at > $4
              AND NOT EXISTS (SELECT 1 FROM lock) AND EXISTS (SELECT 1 FROM gate)
           RETURNING email
         ), cleared AS (
           DELETE FROM otp_attempts WHERE email = $1 AND purpose = $2 AND EXISTS (SELECT 1 FROM used)
         ), authenticated AS (
           INSERT INTO otp_users (email, user_id, created_at, authenticated_at, retain_until)
           SELECT $1, $6, $4, $4, $5 FROM used
           ON CONFLICT (email) DO UPDATE SET authenticated_at = EXCLUDED.authenticated_at,
             retain_until = GREATEST(otp_users.retain_until, EXCLUDED.retain_until)
           RETURNING user_id
         ), session AS (
           INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at)
           SELECT $7, $8, user_id, $1, $2, $4, $9 FROM authenticated
           RETURNING user_id
         )
         SELECT (SELECT user_id FROM session) AS user_id`,
        [
          use.email,
          use.purpose,
          use.otpId,
          date(use.now),
          date(use.retainUntil),
          use.userId,
          Buffer.from(use.session.tokenHash),
          use.session.sessionId,
          date(use.session.expiresAt),
        ],
      );
      const userId = rows[0]?.user_id ?? null;
      if (userId !== null) {
        return { kind: "consumed", userId };
      }
      // Refused: read again (a new snapshot, so a concurrent writer's change is seen) to say why.
      return consumeRefusal(await readOtpState(use.email, use.purpose), use.otpId, use.now);
    },

    async recordFailure(failure) {
      const now = date(failure.now);
      const lockUntil = date(failure.lockUntil);
      // The upsert's WHERE skips a locked row, so RETURNING is empty exactly when not counted.
      const { rows } = await query<{ failures: number; locked_until: Date | null }>(
        "otp_record_failure",
        `WITH counted AS (
           INSERT INTO otp_attempts AS a (email, purpose, failures, locked_until, retain_until)
           VALUES ($1, $2, 1, CASE WHEN 1 >= $4 THEN $5::timestamptz END, $5)
           ON CONFLICT (email, purpose) DO UPDATE SET
             failures = CASE WHEN a.retain_until <= $3 THEN 1 ELSE a.failures + 1 END,
             locked_until = CASE WHEN (CASE WHEN a.retain_until <= $3 THEN 1 ELSE a.failures + 1 END) >= $4
                                 THEN $5::timestamptz END,
             retain_until = $5
           WHERE a.locked_until IS NULL OR a.locked_until <= $3
           RETURNING failures, locked_until
         ), burned AS (
           DELETE FROM otp_codes WHERE email = $1 AND purpose = $2
              AND EXISTS (SELECT 1 FROM counted WHERE locked_until IS NOT NULL)
         )
         SELECT failures, locked_until FROM counted`,
        [failure.email, failure.purpose, now, failure.lockAt, lockUntil],
      );
      const counted = rows[0];
      if (counted !== undefined) {
        return { failures: counted.failures, lockedUntil: millis(counted.locked_until) };
      }
      const { lockedUntil } = await readOtpState(failure.email, failure.purpose);
      return { failures: 0, lockedUntil };
    },
  };
}
