import type { AccountBuckets } from "../../domain/account.js";
import type { OtpStore, UserRef } from "../../domain/otp-store.js";
import { AUDIT_INSERT, auditParams } from "./audit.js";
import type { Params, Query } from "./query.js";

type UserSteps = Pick<OtpStore, "findUser" | "revokeUserSessions" | "eraseUser">;

/** The user row `ref` names, as SQL over the named parameter `:ref`. */
const userWhere = (ref: UserRef) => (ref.email !== undefined ? "email = :ref" : "user_id = :ref");
const refValue = (ref: UserRef) => ref.email ?? ref.userId;

/**
 * The limit buckets of `buckets` as a condition on a `bucket` column, with its parameters: every
 * name, and every bucket that starts with a prefix (compared as text, so a prefix holding `%` or
 * `_` means itself).
 */
function bucketCondition(buckets: AccountBuckets): { sql: string; params: Params } {
  const params: Record<string, string> = {};
  const terms: string[] = [];
  buckets.names.forEach((name, i) => {
    params[`bucketName${i}`] = name;
    terms.push(`bucket = :bucketName${i}`);
  });
  buckets.prefixes.forEach((prefix, i) => {
    params[`bucketPrefix${i}`] = prefix;
    terms.push(`LEFT(bucket, CHAR_LENGTH(:bucketPrefix${i})) = :bucketPrefix${i}`);
  });
  return { sql: terms.length === 0 ? "FALSE" : `(${terms.join(" OR ")})`, params };
}

/**
 * The operator's steps on a user (otp_users and everything kept under its account's key), each
 * one batch in one round trip. Ending every session locks the user row first: consumeCode locks
 * it (its user upsert) before it inserts the session, so the sessions UPDATE, reading after that
 * lock, sees every session created before it, and a session created after waits for the commit.
 * Erasing deletes the user row first, for the same reason with activateCode and consumeCode; a
 * deadlock with either (they lock the code row before the user row) rolls one back whole, and
 * query.ts runs it again.
 */
export function createUserSteps(query: Query): UserSteps {
  return {
    async findUser(ref, now, idleCutoff = 0) {
      const rows = (
        await query(
          `SELECT u.user_id, u.email, u.created_at, u.authenticated_at,
                  (SELECT COUNT(*) FROM otp_sessions s
                    WHERE s.email = u.email AND s.user_id = u.user_id
                      AND s.revoked_at IS NULL AND s.expires_at > :now
                      AND s.last_seen_at > :idleCutoff) AS live_sessions
             FROM otp_users u WHERE u.${userWhere(ref)}`,
          { ref: refValue(ref), now, idleCutoff },
        )
      ).rows<{
        user_id: string;
        email: string;
        created_at: number;
        authenticated_at: number | null;
        live_sessions: number;
      }>();
      const row = rows[0];
      if (row === undefined) {
        return null;
      }
      return {
        userId: row.user_id,
        email: row.email,
        createdAt: Number(row.created_at),
        lastAuthenticatedAt: row.authenticated_at === null ? null : Number(row.authenticated_at),
        liveSessions: Number(row.live_sessions),
      };
    },

    async revokeUserSessions(ref, now, idleCutoff = 0, audit) {
      const live =
        "user_id = @otp_admin_user AND revoked_at IS NULL AND expires_at > :now AND last_seen_at > :idleCutoff";
      const rows = (
        await query(
          `START TRANSACTION;
           SET @otp_admin_user = NULL;
           SELECT user_id INTO @otp_admin_user FROM otp_users WHERE ${userWhere(ref)} FOR UPDATE;
           SELECT session_id FROM otp_sessions WHERE ${live} FOR UPDATE;
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'session.revoked', :now, email, user_id, purpose, session_id, '', '',
                  :auditRequestId, 'admin', :auditUntil
             FROM otp_sessions WHERE ${live} ORDER BY session_id;
           UPDATE otp_sessions SET revoked_at = :now WHERE ${live};
           SELECT ROW_COUNT() AS revoked;
           COMMIT`,
          { ref: refValue(ref), now, idleCutoff, ...auditParams(audit, now) },
        )
      ).rows<{ revoked: number }>();
      return Math.max(0, Number(rows[0]?.revoked ?? 0));
    },

    async eraseUser({ email, userId, buckets, now, audit }) {
      const inBuckets = bucketCondition(buckets);
      // Named by user id, the rest goes only if that user row went (@otp_erased).
      const allowed = "(:userId IS NULL OR @otp_erased = 1)";
      const rows = (
        await query(
          `START TRANSACTION;
           SET @otp_erased_user = NULL;
           SELECT user_id INTO @otp_erased_user FROM otp_users
            WHERE email = :email AND (:userId IS NULL OR user_id = :userId) FOR UPDATE;
           DELETE FROM otp_users WHERE email = :email AND (:userId IS NULL OR user_id = :userId);
           SET @otp_erased = ROW_COUNT();
           UPDATE otp_audit_events SET email = '', client_address = '', user_agent = ''
            WHERE email = :email AND ${allowed};
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'session.revoked', :now, '', user_id, purpose, session_id, '', '', :auditRequestId,
                  'user_deleted', :auditUntil
             FROM otp_sessions
            WHERE email = :email AND ${allowed} AND revoked_at IS NULL AND expires_at > :now
            ORDER BY session_id;
           INSERT INTO otp_audit_events ${AUDIT_INSERT}
           SELECT 'user.deleted', :now, '', @otp_erased_user, '', '', '', '', :auditRequestId, '',
                  :auditUntil FROM DUAL WHERE @otp_erased = 1;
           DELETE FROM otp_codes WHERE email = :email AND ${allowed};
           DELETE FROM otp_attempts WHERE email = :email AND ${allowed};
           DELETE FROM otp_failures WHERE email = :email AND ${allowed};
           DELETE FROM otp_sessions WHERE email = :email AND ${allowed};
           DELETE FROM otp_idempotency WHERE email = :email AND ${allowed};
           DELETE FROM otp_slots WHERE ${inBuckets.sql} AND ${allowed};
           DELETE FROM otp_buckets WHERE ${inBuckets.sql} AND ${allowed};
           SELECT @otp_erased AS erased;
           COMMIT`,
          { email, userId: userId ?? null, now, ...auditParams(audit, now), ...inBuckets.params },
        )
      ).rows<{ erased: number }>();
      return Number(rows[0]?.erased ?? 0) === 1;
    },
  };
}
