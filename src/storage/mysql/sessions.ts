import { revocationReasonOf } from "../../domain/audit-event.js";
import type { ListedSession, OtpStore, StoredSession } from "../../domain/otp-store.js";
import { AUDIT_INSERT, AUDIT_REQUEST, auditParams } from "./audit.js";
import type { Query } from "./query.js";

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
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_seen_at: number;
  client_address: string;
  user_agent: string;
}

const SESSION_COLUMNS =
  "session_id, user_id, email, purpose, created_at, expires_at, revoked_at, last_seen_at, client_address, user_agent";

// A session live at :now (not revoked, not expired, last seen after :idleCutoff), as SQL.
const LIVE = "revoked_at IS NULL AND expires_at > :now AND last_seen_at > :idleCutoff";

// The token's session marked seen at :now when it is live and was last seen at or before
// :touchBefore. The UPDATE reads the row's latest version under its lock, so of concurrent uses
// at most one writes; @otp_touched says whether this one did.
const TOUCH = `UPDATE otp_sessions SET last_seen_at = :now
                WHERE token_hash = :tokenHash AND ${LIVE} AND last_seen_at <= :touchBefore;
               SET @otp_touched = ROW_COUNT();`;

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
    lastSeenAt: row.last_seen_at,
    clientAddress: row.client_address,
    userAgent: row.user_agent,
  };
}

/**
 * Sessions (table otp_sessions; created by the code-consuming batch in codes.ts). Each step is one
 * round trip; a revocation is committed when it resolves, so every instance's next read sees it.
 * A use of a session marks it seen, when due, in the batch that reads it.
 */
export function createSessionSteps(query: Query): SessionSteps {
  return {
    async readAuthentication(email, now, idleCutoff = 0) {
      const rows = (
        await query(
          `SELECT MAX(created_at) AS latest FROM otp_sessions WHERE email = :email AND ${LIVE}`,
          { email, now, idleCutoff },
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

    async useSession(use) {
      const rows = (
        await query(
          `${TOUCH}
           SELECT ${SESSION_COLUMNS}, @otp_touched = 1 AS touched
             FROM otp_sessions WHERE token_hash = :tokenHash`,
          paramsOf(use),
        )
      ).rows<SessionRow & { touched: number }>();
      const row = rows[0];
      const session = sessionOf(row);
      return session === null ? null : { session, touched: row?.touched === 1 };
    },

    // The token's user while its session is live (@otp_user), read after the touch, then every
    // live session of that user: one batch.
    async listSessions(use): Promise<ListedSession[]> {
      const rows = (
        await query(
          `${TOUCH}
           SET @otp_user = (SELECT user_id FROM otp_sessions WHERE token_hash = :tokenHash AND ${LIVE});
           SELECT ${SESSION_COLUMNS}, token_hash = :tokenHash AS current
             FROM otp_sessions WHERE user_id = @otp_user AND ${LIVE}
            ORDER BY created_at DESC, session_id DESC`,
          paramsOf(use),
        )
      ).rows<SessionRow & { current: number }>();
      return rows.map((row) => ({
        ...(sessionOf(row) as StoredSession),
        current: row.current === 1,
      }));
    },

    // MySQL refuses a subquery on the table an UPDATE changes (error 1093), so the token's user,
    // while its session is live, is read first into @otp_user, in the same round trip. With
    // :sessionId, only that session of the user ends instead of the token's own.
    // One transaction: the sessions to end are locked first, so that the events written and the
    // rows marked are the same sessions, and another revocation of one of them waits, then finds
    // it revoked (no second event).
    async revokeSessions({ tokenHash, allOfUser, sessionId, now, idleCutoff = 0, audit }) {
      const targets = `revoked_at IS NULL
            AND ((:sessionId IS NULL AND token_hash = :tokenHash)
                 OR ((:allOfUser OR :sessionId IS NOT NULL)
                     AND (:sessionId IS NULL OR session_id = :sessionId)
                     AND user_id = @otp_user))`;
      const rows = (
        await query(
          `START TRANSACTION;
         SET @otp_user = (SELECT user_id FROM otp_sessions WHERE token_hash = :tokenHash AND ${LIVE});
         SELECT session_id FROM otp_sessions WHERE ${targets} FOR UPDATE;
         INSERT INTO otp_audit_events ${AUDIT_INSERT}
         SELECT 'session.revoked', :now, email, user_id, purpose, session_id, ${AUDIT_REQUEST},
                :reason, :auditUntil
           FROM otp_sessions WHERE ${targets} ORDER BY session_id;
         UPDATE otp_sessions SET revoked_at = :now WHERE ${targets};
         SELECT ROW_COUNT() AS revoked;
         COMMIT`,
          {
            tokenHash: Buffer.from(tokenHash),
            now,
            allOfUser,
            sessionId: sessionId ?? null,
            idleCutoff,
            reason: revocationReasonOf({ allOfUser, sessionId }),
            ...auditParams(audit, now),
          },
        )
      ).rows<{ revoked: number }>();
      return Math.max(0, Number(rows[0]?.revoked ?? 0));
    },
  };
}

/** A use's values for the `:name` placeholders of TOUCH and LIVE. */
function paramsOf(use: {
  tokenHash: Uint8Array;
  now: number;
  idleCutoff: number;
  touchBefore: number;
}) {
  return {
    tokenHash: Buffer.from(use.tokenHash),
    now: use.now,
    idleCutoff: use.idleCutoff,
    touchBefore: use.touchBefore,
  };
}
