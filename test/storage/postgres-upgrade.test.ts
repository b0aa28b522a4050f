import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { keyedCodeHash } from "../../src/domain/otp-code.js";
import type { CodeUse } from "../../src/domain/otp-store.js";
import { migrate, migrations } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase } from "../support/postgres-server.js";
import { CODE_KEY } from "./contract/fixtures.js";

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

describe("upgrading PostgreSQL from schema version 6", () => {
  it("a code without a keyed hash is refused by its key and used once read; version 6's function still uses version 7's codes", async () => {
    const pool = await databaseAt(6);
    expect(await migrate(pool)).toEqual([7, 8]);
    const store = createPostgresStore(pool);
    const now = Date.now();
    const code = {
      userId: "user-ann",
      email: "ann@example.com",
      purpose: "login",
      codeHash: new Uint8Array(32).fill(7),
      keyedHash: keyedCodeHash(CODE_KEY, "otp-new"),
      issuedAt: now,
      expiresAt: now + 300_000,
      retainUntil: now + 600_000,
    };
    // As an instance of version 6, still running, activates a code: no keyed hash.
    await store.activateCode({ ...code, otpId: "otp-old" });
    await pool.query("UPDATE otp_codes SET keyed_hash = NULL WHERE otp_id = 'otp-old'");
    const use = (otpId: string | null, n: number, codeKey?: Uint8Array): CodeUse => ({
      email: "ann@example.com",
      purpose: "login",
      otpId,
      bound: otpId !== null,
      gate: { network: "ip:192.0.2.1", maxFailures: 30, windowMs: 86_400_000, maxAttempts: 3 },
      now,
      retainUntil: now + 86_400_000,
      session: {
        sessionId: `session-${n}`,
        tokenHash: new Uint8Array(32).fill(n),
        expiresAt: now + 86_400_000,
        clientAddress: "",
        userAgent: "",
      },
      userId: "user-ann",
      keyed: codeKey === undefined ? undefined : { codeKey, lockUntil: now + 600_000 },
    });
    // Found by its key, bound or as the latest: refused (not counted: nothing was compared), so
    // the verification reads and judges it.
    expect(await store.consumeCode(use(null, 1, CODE_KEY))).toEqual({ kind: "refused" });
    expect(await store.consumeCode(use("otp-old", 2, CODE_KEY))).toEqual({ kind: "refused" });
    expect(await store.consumeCode(use(null, 3))).toEqual({ kind: "refused" });
    // Read (unbound) and compared by the service: used.
    expect(await store.consumeCode(use("otp-old", 4))).toMatchObject({ kind: "consumed" });
    // A code of version 7, used as version 6's consume statement does (its HMAC compared).
    await store.activateCode({ ...code, otpId: "otp-new" });
    const { rows } = await pool.query<{ user_id: string | null }>(
      `SELECT otp_consume_code('ann@example.com', 'login', 'otp-new', true, 'ip:192.0.2.1', now(),
                               now() - interval '1 day', 30, 3, now() + interval '1 day', 'user-ann',
                               $1) AS user_id`,
      [Buffer.from(code.codeHash)],
    );
    expect(rows[0]?.user_id).toBe("user-ann");
  });
});
