import mysql from "mysql2/promise";
import { DATABASE_NOW_MS } from "../../src/storage/mysql/query.js";
import type { DatabaseEngine } from "./database-engine.js";
import { createMysqlDatabase, startMariadbServer } from "./mariadb-server.js";

/** Runs `read` on a connection of its own to `databaseUrl`. */
async function withConnection<T>(
  databaseUrl: string,
  read: (connection: mysql.Connection) => Promise<T>,
) {
  const connection = await mysql.createConnection({ uri: databaseUrl, supportBigNumbers: true });
  try {
    return await read(connection);
  } finally {
    await connection.end();
  }
}

const rowsOf = async <R>(connection: mysql.Connection, sql: string, values: unknown[] = []) =>
  (await connection.query(sql, values))[0] as R[];

/** MariaDB (Debian's mariadb-server), as the suites see it: STORAGE=mysql. */
export const mariadbEngine: DatabaseEngine = {
  name: "MariaDB",
  storage: "mysql",
  sharedServer: "mariadbUrl",
  startServer: startMariadbServer,
  createDatabase: createMysqlDatabase,

  activeOtpId: (databaseUrl, email) =>
    withConnection(databaseUrl, async (connection) => {
      const rows = await rowsOf<{ otp_id: string }>(
        connection,
        "SELECT otp_id FROM otp_codes WHERE email = ? AND purpose = 'login' ORDER BY seq DESC LIMIT 1",
        [email],
      );
      return rows[0]?.otp_id;
    }),

  sessionRows: (databaseUrl) =>
    withConnection(databaseUrl, (connection) =>
      rowsOf<{ token_hash: string; session_id: string }>(
        connection,
        "SELECT LOWER(HEX(token_hash)) AS token_hash, session_id FROM otp_sessions",
      ),
    ),

  storedText: (databaseUrl) =>
    withConnection(databaseUrl, async (connection) => {
      const texts: string[] = [];
      for (const table of [
        "otp_codes",
        "otp_attempts",
        "otp_failures",
        "otp_users",
        "otp_buckets",
        "otp_slots",
        "otp_idempotency",
        "otp_audit_events",
      ]) {
        const rows = await rowsOf<Record<string, unknown>>(connection, `SELECT * FROM ${table}`);
        texts.push(
          ...rows.map((row) =>
            Object.values(row)
              .map((value) => (Buffer.isBuffer(value) ? value.toString("hex") : String(value)))
              .join(" "),
          ),
        );
      }
      return texts.join(" ");
    }),

  readState: (databaseUrl, emails) =>
    withConnection(databaseUrl, async (connection) => {
      const [clock] = await rowsOf<{ now: number }>(connection, `SELECT ${DATABASE_NOW_MS} AS now`);
      const now = Number(clock?.now);
      const slots = await rowsOf<{ bucket: string; slot_id: string; expires_at: number }>(
        connection,
        "SELECT bucket, slot_id, expires_at FROM otp_slots WHERE bucket IN (?) AND expires_at > ? ORDER BY expires_at",
        [emails.map((email) => `email:${email}`), now],
      );
      const users = await rowsOf<{ email: string; authenticated_at: number | null }>(
        connection,
        "SELECT email, authenticated_at FROM otp_users WHERE email IN (?)",
        [emails],
      );
      const sessions = await rowsOf<{ session_id: string; email: string; revoked: number }>(
        connection,
        "SELECT session_id, email, revoked_at IS NOT NULL AS revoked FROM otp_sessions WHERE email IN (?)",
        [emails],
      );
      const events = await rowsOf<{ type: string; email: string; session_id: string }>(
        connection,
        "SELECT type, email, session_id FROM otp_audit_events WHERE email IN (?)",
        [emails],
      );
      const byEmail = new Map<string, { id: string; exp: number }[]>();
      for (const slot of slots) {
        const email = slot.bucket.slice("email:".length);
        byEmail.set(email, [
          ...(byEmail.get(email) ?? []),
          { id: slot.slot_id, exp: Number(slot.expires_at) },
        ]);
      }
      return {
        now,
        slots: byEmail,
        authenticatedAt: new Map(
          users.map((row) => [
            row.email,
            row.authenticated_at === null ? null : Number(row.authenticated_at),
          ]),
        ),
        sessions: new Map(
          sessions.map((row) => [
            row.session_id,
            { email: row.email, revoked: Number(row.revoked) === 1 },
          ]),
        ),
        events: events.map((row) => ({
          type: row.type,
          email: row.email,
          sessionId: row.session_id,
        })),
      };
    }),
};
