import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { migrate, migrations } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase } from "../support/postgres-server.js";

// Upgrading a database a previous version of the service made, while that version still runs
// beside the new one (a rolling upgrade): what the session columns of version 3 hold for rows
// that existed before, and for rows the previous version goes on inserting.

const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
});

/** A database at schema `version`, as the service of that version left it. */
async function databaseAt(version: number): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: await createDatabase(inject("postgresUrl")) });
  pools.push(pool);
  await pool.query(`CREATE TABLE otp_schema_migrations (
    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  for (const migration of migrations.filter((m) => m.version <= version)) {
    await pool.query(migration.sql);
    await pool.query("INSERT INTO otp_schema_migrations (version) VALUES ($1)", [
      migration.version,
    ]);
  }
  return pool;
}

/** A session as version 2's consume statement inserts it (no device columns, no last_seen_at). */
const insertAsVersion2 = (pool: pg.Pool, n: number, createdAt: string) =>
  pool.query(
    `INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at)
     VALUES (sha256($1::bytea), $2, 'user-ann', 'ann@example.com', 'login', ${createdAt}, now() + interval '1 day')`,
    [Buffer.from(`token-${n}`), `session-${n}`],
  );

describe("upgrading PostgreSQL from schema version 2", () => {
  it("existing sessions were last seen when created; rows the previous version inserts meanwhile likewise; no device is known", async () => {
    const pool = await databaseAt(2);
    await insertAsVersion2(pool, 1, "timestamptz '2026-01-01T00:00:00Z'");
    // Every later version, 3 (the session columns) first.
    expect(await migrate(pool)).toEqual(
      migrations.filter((m) => m.version > 2).map((m) => m.version),
    );
    // The previous version, still running, inserts as it always did.
    await insertAsVersion2(pool, 2, "now()");
    const store = createPostgresStore(pool);
    const { rows } = await pool.query<{ token_hash: Buffer; session_id: string }>(
      "SELECT token_hash, session_id FROM otp_sessions ORDER BY session_id",
    );
    const sessions = await Promise.all(
      rows.map((row) => store.findSession(new Uint8Array(row.token_hash))),
    );
    for (const session of sessions) {
      expect(session).toMatchObject({ clientAddress: "", userAgent: "" });
      expect(session?.lastSeenAt).toBe(session?.createdAt);
    }
    expect(sessions[0]?.createdAt).toBe(Date.parse("2026-01-01T00:00:00Z"));
  });
});

describe("upgrading PostgreSQL from schema version 3", () => {
  it("a code live before the upgrade stays the pair's latest, verifiable unbound and by its otp_id", async () => {
    const pool = await databaseAt(3);
    await pool.query(
      `INSERT INTO otp_users (email, user_id, created_at, retain_until)
       VALUES ('ann@example.com', 'user-ann', now(), now() + interval '1 day')`,
    );
    // As version 3's activateCode left it: one row per (email, purpose).
    await pool.query(
      `INSERT INTO otp_codes (email, purpose, otp_id, code_hash, issued_at, expires_at, used_at, retain_until)
       VALUES ('ann@example.com', 'login', 'otp-old', '\\x07', now(), now() + interval '5 minutes',
               NULL, now() + interval '10 minutes')`,
    );
    expect(await migrate(pool)).toEqual(
      migrations.filter((m) => m.version > 3).map((m) => m.version),
    );
    const store = createPostgresStore(pool);
    const now = Date.now();
    for (const otpId of [null, "otp-old"]) {
      const state = await store.readOtpState({
        email: "ann@example.com",
        purpose: "login",
        otpId,
        now,
        failureWindowMs: 86_400_000,
      });
      expect(state.code).toMatchObject({ otpId: "otp-old", failures: 0, usedAt: null });
    }
  });
});
