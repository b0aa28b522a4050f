import type { OtpStore, StoredSession } from "../../domain/otp-store.js";
import { date, millis, type Query } from "./query.js";

type SessionSteps = Pick<
  OtpStore,
  "readAuthentication" | "findSession" | "findSessionById" | "revokeSessions"
>;

interface SessionRow {
  session_id: string;
  user_id: string;
  email: string;
  purpose: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const SESSION_COLUMNS = "session_id, user_id, email, purpose, created_at, expires_at, revoked_at";

/**
 * Sessions (table otp_sessions; created by the code-consuming statement in codes.ts). Each step
 * is one statement; a revocation is committed when it resolves, so every instance's next read
 * sees it.
 */
export function createSessionSteps(query: Query): SessionSteps {
  return {
    async readAuthentication(email, now) {
      const { rows } = await query<{ latest: Date | null }>(
        "otp_read_authentication",
        `SELECT max(created_at) AS latest FROM otp_sessions
          WHERE email = $1 AND revoked_at IS NULL AND expires_at > $2`,
        [email, date(now)],
      );
      return millis(rows[0]?.latest ?? null);
    },

    async findSession(tokenHash): Promise<StoredSession | null> {
      const { rows } = await query<SessionRow>(
        "otp_find_session",
        `SELECT ${SESSION_COLUMNS} FROM otp_sessions WHERE token_hash = $1`,
        [Buffer.from(tokenHash)],
      );
      return sessionOf(rows[0]);
    },

    // session_id is UNIQUE (migrations.ts): one index lookup.
    async findSessionById(sessionId): Promise<StoredSession | null> {
      const { rows } = await query<SessionRow>(
        "otp_find_session_by_id",
        `SELECT ${SESSION_COLUMNS} FROM otp_sessions WHERE session_id = $1`,
        [sessionId],
      );
      return sessionOf(rows[0]);
    },

    async revokeSessions({ tokenHash, allOfUser, now }) {
      await query(
        "otp_revoke_sessions",
        `UPDATE otp_sessions SET revoked_at = $2
          WHERE revoked_at IS NULL
            AND (token_hash = $1
                 OR ($3 AND user_id = (SELECT user_id FROM otp_sessions
                                        WHERE token_hash = $1 AND revoked_at IS NULL
                                          AND expires_at > $2)))`,
        [Buffer.from(tokenHash), date(now), allOfUser],
      );
    },
  };
}

function sessionOf(row: SessionRow | undefined): StoredSession | null {
  if (row === undefined) {
    return null;
  }
  return {
    sessionId: row.session_id,
    userId: row.user_id,
    email: row.email,
    purpose: row.purpose,
    createdAt: row.created_at.getTime(),
    expiresAt: row.expires_at.getTime(),
    revokedAt: millis(row.revoked_at),
  };
}
