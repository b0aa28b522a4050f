import pg from "pg";
import type { DatabaseEngine } from "./database-engine.js";
import { createDatabase, startPostgresServer } from "./postgres-server.js";

/** Runs `read` on a client of its own connected to `databaseUrl`. */
async function withClient<T>(databaseUrl: string, read: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await read(client);
  } finally {
    await client.end();
  }
}

/** PostgreSQL, as the suites see it (STORAGE=postgres). */
export const postgresEngine: DatabaseEngine = {
  name: "PostgreSQL",
  storage: "postgres",
  sharedServer: "postgresUrl",
  startServer: startPostgresServer,
  createDatabase,

  activeOtpId: (databaseUrl, email) =>
    withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ otp_id: string }>(
        "SELECT otp_id FROM otp_codes WHERE email = $1 AND purpose = 'login' ORDER BY seq DESC LIMIT 1",
        [email],
      );
      return rows[0]?.otp_id;
    }),

  sessionRows: (databaseUrl) =>
    withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ token_hash: string; session_id: string }>(
        "SELECT encode(token_hash, 'hex') AS token_hash, session_id FROM otp_sessions",
      );
      return rows;
    }),

  storedText: (databaseUrl) =>
    withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ dump: string }>(
        `SELECT string_agg(t::text, ' ') AS dump FROM (
           SELECT c::text AS t FROM otp_codes c
           UNION ALL SELECT a::text FROM otp_attempts a
           UNION ALL SELECT f::text FROM otp_failures f
           UNION ALL SELECT u::text FROM otp_users u
           UNION ALL SELECT s::text FROM otp_slots s
           UNION ALL SELECT i::text FROM otp_idempotency i
           UNION ALL SELECT e::text FROM otp_audit_events e) AS everything`,
      );
      return rows[0]?.dump ?? "";
    }),

  readState: (databaseUrl, emails) =>
    withClient(databaseUrl, async (client) => {
      const { rows: clock } = await client.query<{ now: Date }>("SELECT clock_timestamp() AS now");
      const now = (clock[0] as { now: Date }).now.getTime();
      const { rows: buckets } = await client.query<{
        bucket: string;
        slots: { id: string; exp: number }[];
      }>("SELECT bucket, slots FROM otp_slots WHERE bucket = ANY($1)", [
        emails.map((email) => `email:${email}`),
      ]);
      const { rows: users } = await client.query<{
        email: string;
        authenticated_at: Date | null;
      }>("SELECT email, authenticated_at FROM otp_users WHERE email = ANY($1)", [emails]);
      const { rows: sessions } = await client.query<{
        session_id: string;
        email: string;
        revoked: boolean;
      }>(
        "SELECT session_id, email, revoked_at IS NOT NULL AS revoked FROM otp_sessions WHERE email = ANY($1)",
        [emails],
      );
      const { rows: events } = await client.query<{
        type: string;
        email: string;
        session_id: string;
      }>("SELECT type, email, session_id FROM otp_audit_events WHERE email = ANY($1)", [emails]);
      return {
        now,
        slots: new Map(
          buckets.map((row) => [
            row.bucket.slice("email:".length),
            row.slots.filter((slot) => Number(slot.exp) > now),
          ]),
        ),
        authenticatedAt: new Map(
          users.map((row) => [row.email, row.authenticated_at?.getTime() ?? null]),
        ),
        sessions: new Map(
          sessions.map((row) => [row.session_id, { email: row.email, revoked: row.revoked }]),
        ),
        events: events.map((row) => ({
          type: row.type,
          email: row.email,
          sessionId: row.session_id,
        })),
      };
    }),
};
