import { revocationReasonOf } from "../../domain/audit-event.js";
import type { ListedSession, OtpStore, StoredSession } from "../../domain/otp-store.js";
import { auditValues } from "./audit.js";
import { date, millis, type Query } from "./query.js";

type SessionSteps = Pick<
  OtpStore,
  | "readAuthentication"
  | "findSession"
  | "findSessionById"
  | "useSession"
  | "listSessions"
  | "revokeSessions"
>;

interface SessionRow {
  session_id: string;
  user_id: string;
  email: string;
  purpose: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_seen_at: Date;
  client_address: string;
  user_agent: string;
}

const SESSION_COLUMNS =
  "session_id, user_id, email, purpose, created_at, expires_at, revoked_at, last_seen_at, client_address, user_agent";

// A session's columns (s) joined with its touch (t): the new last_seen_at when it moved.
const SIGHTED_COLUMNS = `s.session_id, s.user_id, s.email, s.purpose, s.created_at, s.expires_at, s.revoked_at,
                coalesce(t.last_seen_at, s.last_seen_at) AS last_seen_at, s.client_address, s.user_agent`;

// A session live at $2 (not revoked, not expired, last seen after the idle cutoff $3), as SQL.
const LIVE = "revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3";

// The token's session ($1), marked seen at $2 when it is live and was last seen at or before $4.
// A row another use is marking is waited for and its WHERE judged again on the new version, so
// of concurrent uses at most one writes. A use that is not due writes nothing and takes no lock.
const TOUCH = `touched AS (
           UPDATE otp_sessions SET last_seen_at = $2
            WHERE token_hash = $1 AND ${LIVE} AND last_seen_at <= $4
           RETURNING session_id, last_seen_at
         )`;

/**
 * Sessions (table otp_sessions; created by the code-consuming statement in codes.ts). Each step
 * is one statement; a revocation is committed when it resolves, so every instance's next read
 * sees it. A use of a session reads it and, when due, marks it seen in that same statement: a
 * lookup stays one round trip, and most lookups write nothing.
 */
export function createSessionSteps(query: Query): SessionSteps {
  return {
    async readAuthentication(email, now, idleCutoff = 0) {
      const { rows } = await query<{ latest: Date | null }>(
        "otp_read_authentication",
        `SELECT max(created_at) AS latest FROM otp_sessions WHERE email = $1 AND ${LIVE}`,
        [email, date(now), date(idleCutoff)],
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

    // The SELECT reads the statement's snapshot, from before the touch: the touched time, when
    // there is one, comes from the UPDATE's RETURNING.
    async useSession(use) {
      const { rows } = await query<SessionRow & { touched: boolean }>(
        "otp_use_session",
        `WITH ${TOUCH}
         SELECT ${SIGHTED_COLUMNS},
                t.session_id IS NOT NULL AS touched
           FROM otp_sessions s LEFT JOIN touched t ON t.session_id = s.session_id
          WHERE s.token_hash = $1`,
        [Buffer.from(use.tokenHash), date(use.now), date(use.idleCutoff), date(use.touchBefore)],
      );
      const row = rows[0];
      const session = sessionOf(row);
      return session === null ? null : { session, touched: row?.touched === true };
    },

    // One statement: the token's user while its session is live, that session marked seen when
    // due, and every live session of the user. Ties (the same millisecond) go by session id in
    // byte order, as the memory store and MySQL's binary collation order them.
    async listSessions(use): Promise<ListedSession[]> {
      const { rows } = await query<SessionRow & { current: boolean }>(
        "otp_list_sessions",
        `WITH ${TOUCH}, caller AS (
           SELECT user_id FROM otp_sessions WHERE token_hash = $1 AND ${LIVE}
         )
         SELECT ${SIGHTED_COLUMNS},
                s.token_hash = $1 AS current
           FROM otp_sessions s LEFT JOIN touched t ON t.session_id = s.session_id
          WHERE s.user_id = (SELECT user_id FROM caller)
            AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3
          ORDER BY s.created_at DESC, s.session_id COLLATE "C" DESC`,
        [Buffer.from(use.tokenHash), date(use.now), date(use.idleCutoff), date(use.touchBefore)],
      );
      return rows.map((row) => ({ ...(sessionOf(row) as StoredSession), current: row.current }));
    },

    // $4: another session of the token's user to end instead of the token's own; $3: all of them.
    // Each session marked gets its session.revoked from the UPDATE's RETURNING, in the statement.
    async revokeSessions({ tokenHash, allOfUser, sessionId, now, idleCutoff = 0, audit }) {
      const { rows } = await query<{ revoked: string }>(
        "otp_revoke_sessions",
        `WITH revoked AS (
           UPDATE otp_sessions SET revoked_at = $2
            WHERE revoked_at IS NULL
              AND (($4::text IS NULL AND token_hash = $1)
                   OR (($3 OR $4::text IS NOT NULL)
                       AND ($4::text IS NULL OR session_id = $4)
                       AND user_id = (SELECT user_id FROM otp_sessions
                                       WHERE token_hash = $1 AND revoked_at IS NULL
                                         AND expires_at > $2 AND last_seen_at > $5)))
           RETURNING email, user_id, purpose, session_id
         ), event AS (
           INSERT INTO otp_audit_events (type, at, email, user_id, purpose, session_id,
                                         client_address, user_agent, request_id, reason, retain_until)
           SELECT 'session.revoked', $2, email, user_id, purpose, session_id, $8, $9, $7, $6, $10
             FROM revoked ORDER BY session_id
         )
         SELECT count(*) AS revoked FROM revoked`,
        [
          Buffer.from(tokenHash),
          date(now),
          allOfUser,
          sessionId ?? null,
          date(idleCutoff),
          revocationReasonOf({ allOfUser, sessionId }),
          ...auditValues(audit, now),
        ],
      );
      return Number(rows[0]?.revoked ?? 0);
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
    lastSeenAt: row.last_seen_at.getTime(),
    clientAddress: row.client_address,
    userAgent: row.user_agent,
  };
}
