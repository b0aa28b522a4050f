import type { OtpStore, UserRecord } from "../../domain/otp-store.js";
import { exclusiveAccountGate } from "./account-gate.js";
import { auditValues } from "./audit.js";
import { date, millis, type Query, type Transact } from "./query.js";

type UserSteps = Pick<OtpStore, "findUser" | "revokeUserSessions" | "eraseUser">;

interface UserRow {
  user_id: string;
  email: string;
  created_at: Date;
  authenticated_at: Date | null;
  live_sessions: string;
}

// The user row and its live sessions, for `WHERE u.email = $1` or `WHERE u.user_id = $1`.
const USER_FACTS = `SELECT u.user_id, u.email, u.created_at, u.authenticated_at,
         (SELECT count(*) FROM otp_sessions s
           WHERE s.email = u.email AND s.user_id = u.user_id
             AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3) AS live_sessions
    FROM otp_users u`;

/**
 * The operator's steps on a user (otp_users and everything kept under its account's key). Ending
 * every session and erasing are transactions that first take the account gate exclusive
 * (account-gate.ts) and then act in a statement of their own, which reads after every code or
 * session that an activateCode or consumeCode holding the gate created.
 */
export function createUserSteps(query: Query, transact: Transact): UserSteps {
  return {
    async findUser(ref, now, idleCutoff = 0): Promise<UserRecord | null> {
      const { rows } =
        ref.email !== undefined
          ? await query<UserRow>("otp_find_user", `${USER_FACTS} WHERE u.email = $1`, [
              ref.email,
              date(now),
              date(idleCutoff),
            ])
          : await query<UserRow>("otp_find_user_by_id", `${USER_FACTS} WHERE u.user_id = $1`, [
              ref.userId,
              date(now),
              date(idleCutoff),
            ]);
      const row = rows[0];
      if (row === undefined) {
        return null;
      }
      return {
        userId: row.user_id,
        email: row.email,
        createdAt: row.created_at.getTime(),
        lastAuthenticatedAt: millis(row.authenticated_at),
        liveSessions: Number(row.live_sessions),
      };
    },

    revokeUserSessions(ref, now, idleCutoff = 0, audit) {
      return transact(async (tx) => {
        // The account of the user id, read and gated in one statement; none for an unknown id.
        const gated =
          ref.email !== undefined
            ? await tx("otp_gate_account", `SELECT ${exclusiveAccountGate("$1")}`, [ref.email])
            : await tx(
                "otp_gate_user",
                `SELECT ${exclusiveAccountGate("email")} FROM otp_users WHERE user_id = $1`,
                [ref.userId],
              );
        if (gated.rowCount === 0) {
          return 0;
        }
        const { rows } = await tx<{ revoked: string }>(
          "otp_revoke_user_sessions",
          `WITH revoked AS (
             UPDATE otp_sessions SET revoked_at = $3
              WHERE revoked_at IS NULL AND expires_at > $3 AND last_seen_at > $8
                AND user_id = (SELECT user_id FROM otp_users
                                WHERE ($1::text IS NOT NULL AND email = $1)
                                   OR ($2::text IS NOT NULL AND user_id = $2))
             RETURNING email, user_id, purpose, session_id
           ), event AS (
             INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id,
                                           client_address, user_agent, request_id, reason, retain_until)
             SELECT 'session.revoked', $3, email, user_id, purpose, session_id, $5, $6, $4, 'admin', $7
               FROM revoked ORDER BY session_id
           )
           SELECT count(*) AS revoked FROM revoked`,
          [
            ref.email ?? null,
            ref.userId ?? null,
            date(now),
            ...auditValues(audit, now),
            date(idleCutoff),
          ],
        );
        return Number(rows[0]?.revoked ?? 0);
      });
    },

    eraseUser({ email, userId, buckets, now, audit }) {
      // An operator's request: its id; the person's address and agent are what it erases.
      const [requestId, , , auditUntil] = auditValues(audit, now);
      return transact(async (tx) => {
        await tx("otp_gate_account", `SELECT ${exclusiveAccountGate("$1")}`, [email]);
        // Named by user id, only while the account still belongs to it; named by its account,
        // whatever the account holds. The user row goes last, in the same statement.
        const { rows } = await tx<{ erased: boolean }>(
          "otp_erase_user",
          `WITH allowed AS (
             SELECT 1 WHERE $2::text IS NULL
                         OR EXISTS (SELECT 1 FROM otp_users WHERE email = $1 AND user_id = $2)
           ), c AS (
             DELETE FROM otp_codes WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
           ), a AS (
             DELETE FROM otp_attempts WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
           ), f AS (
             DELETE FROM otp_failures WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
           ), s AS (
             DELETE FROM otp_sessions WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
             RETURNING user_id, purpose, session_id, revoked_at, expires_at
           ), trail AS (
             -- What happened stays; who it happened to goes.
             UPDATE otp_audit_events SET email = '', client_address = '', user_agent = ''
              WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
           ), i AS (
             DELETE FROM otp_idempotency WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
           ), l AS (
             DELETE FROM otp_slots
              WHERE (bucket = ANY ($3::text[])
                     OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS p (prefix)
                                 WHERE starts_with(bucket, p.prefix)))
                AND EXISTS (SELECT 1 FROM allowed)
           ), u AS (
             DELETE FROM otp_users WHERE email = $1 AND EXISTS (SELECT 1 FROM allowed)
             RETURNING user_id
           ), event AS (
             -- Each session live until now, then the erasure itself; written without the account.
             INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id,
                                           client_address, user_agent, request_id, reason, retain_until)
             SELECT e.type, $5, '', e.user_id, e.purpose, e.session_id, '', '', $6, e.reason, $7
               FROM (SELECT 1 AS ord, 'session.revoked' AS type, user_id, purpose, session_id,
                            'user_deleted' AS reason
                       FROM s WHERE revoked_at IS NULL AND expires_at > $5
                     UNION ALL
                     SELECT 2, 'user.deleted', user_id, '', '', '' FROM u) AS e
              ORDER BY e.ord, e.session_id
           )
           SELECT EXISTS (SELECT 1 FROM u) AS erased`,
          [
            email,
            userId ?? null,
            [...buckets.names],
            [...buckets.prefixes],
            date(now),
            requestId,
            auditUntil,
          ],
        );
        return rows[0]?.erased === true;
      });
    },
  };
}
