import type { OtpStore, StoredSession } from "../../domain/otp-store.js";
import type { Query } from "./query.js";

type SessionSteps = Pick<
  OtpStore,
  "readAuthentication" | "findSession" | "findSessionById" | "revokeSessions"
>;

interface SessionRow {
  session_id: string;
  user_id: string;
  email: string;
  purpose: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

const SESSION_COLUMNS = "session_id, user_id, email, purpose, created_at, expires_at, revoked_at";

/** A session row as the domain knows it; null when there is none. */
function sessionOf(row: SessionRow | undefined): StoredSession | null {
  if (row === undefined) {
    return null;
  }
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    email: row.email,
    purpose: row.purpose,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * Sessions (table otp_sessions; created by the code-consuming batch in codes.ts). Each step is one
 * round trip; a revocation is committed when it resolves, so every instance's next read sees it.
 */
export function createSessionSteps(query: Query): SessionSteps {
  return {
    async readAuthentication(email, now) {
      const rows = (
        await query(
          `SELECT MAX(created_at) AS latest FROM otp_sessions
            WHERE email = :email AND revoked_at IS NULL AND expires_at > :now`,
          { email, now },
        )
      ).rows<{ latest: number | null }>();
      return rows[0]?.latest ?? null;
    },

    async findSession(tokenHash) {
      const rows = (
        await query(`SELECT ${SESSION_COLUMNS} FROM otp_sessions WHERE token_hash = :tokenHash`, {
          tokenHash: Buffer.from(tokenHash),
        })
      ).rows<SessionRow>();
      return sessionOf(rows[0]);
    },

    async findSessionById(sessionId) {
      const rows = (
        await query(`SELECT ${SESSION_COLUMNS} FROM otp_sessions WHERE session_id = :sessionId`, {
          sessionId,
        })
      ).rows<SessionRow>();
      return sessionOf(rows[0]);
    },

    // MySQL refuses a subquery on the table an UPDATE changes (error 1093), so the token's user,
    // while its session is live, is read first into @otp_user, in the same round trip.
    async revokeSessions({ tokenHash, allOfUser, now }) {
      await query(
        `SET @otp_user = (SELECT user_id FROM otp_sessions
                           WHERE token_hash = :tokenHash AND revoked_at IS NULL AND expires_at > :now);
         UPDATE otp_sessions SET revoked_at = :now
          WHERE revoked_at IS NULL
            AND (token_hash = :tokenHash OR (:allOfUser AND user_id = @otp_user))`,
        { tokenHash: Buffer.from(tokenHash), now, allOfUser },
      );
    },
  };
}
