import mysql from "mysql2/promise";
import { afterAll, describe, expect, inject, it } from "vitest";
import { migrate, migrations } from "../../src/storage/mysql/migrations.js";
import { createMysqlStore } from "../../src/storage/mysql/mysql-store.js";
import { poolSettings } from "../../src/storage/mysql/open-mysql.js";
import { createMysqlDatabase } from "../support/mariadb-server.js";
import { CODE_KEY, gate, keyed, newCode, use } from "./contract/fixtures.js";

// Upgrading a MariaDB database a previous version of the service made, while that version still
// runs beside the new one (a rolling upgrade), as postgres-upgrade.test.ts does on PostgreSQL;
// and a version 2 that failed half way, run again whole (MySQL commits each DDL by itself).

const connections: mysql.Connection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.end()));
});

/** A database at schema `version`, as the service of that version left it. */
async function databaseAt(version: number) {
  const url = await createMysqlDatabase(inject("mariadbUrl"));
  const connection = await mysql.createConnection({ uri: url });
  connections.push(connection);
  await connection.query(`CREATE TABLE otp_schema_migrations (
    version INT NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`);
  for (const migration of migrations.filter((m) => m.version <= version)) {
    for (const statement of migration.statements) {
      await connection.query(statement);
    }
    await connection.query("INSERT INTO otp_schema_migrations (version) VALUES (?)", [
      migration.version,
    ]);
  }
  return { url, connection };
}

/** A session as version 1's consume batch inserts it (no device columns, no last_seen_at). */
const insertAsVersion1 = (connection: mysql.Connection, n: number, createdAt: number) =>
  connection.query(
    `INSERT INTO otp_sessions (token_hash, session_id, user_id, email, purpose, created_at, expires_at)
     VALUES (UNHEX(SHA2(?, 256)), ?, 'user-ann', 'ann@example.com', 'login', ?, ?)`,
    [`token-${n}`, `session-${n}`, createdAt, createdAt + 86_400_000],
  );

describe("upgrading MariaDB from schema version 1", () => {
  it("existing sessions were last seen when created; rows the previous version inserts meanwhile get the database's time; no device is known", async () => {
    const { url, connection } = await databaseAt(1);
    const before = Date.UTC(2026, 0, 1);
    await insertAsVersion1(connection, 1, before);
    // Version 2 half done once already: its first column is there, the rest is not.
    const [first] = (migrations.find((m) => m.version === 2)?.statements ?? []).slice(0, 4);
    expect(first).toContain("last_seen_at");
    for (const statement of (migrations.find((m) => m.version === 2)?.statements ?? []).slice(
      0,
      4,
    )) {
      await connection.query(statement);
    }
    // Every later version, 2 (the session columns) first.
    expect(await migrate(connection)).toEqual(
      migrations.filter((m) => m.version > 1).map((m) => m.version),
    );
    const now = Date.now();
    await insertAsVersion1(connection, 2, now);
    const store = createMysqlStore(mysql.createPool(poolSettings(url)));
    try {
      const [rows] = await connection.query(
        "SELECT token_hash FROM otp_sessions ORDER BY session_id",
      );
      const sessions = await Promise.all(
        (rows as { token_hash: Buffer }[]).map((row) =>
          store.findSession(new Uint8Array(row.token_hash)),
        ),
      );
      expect(sessions[0]).toMatchObject({
        createdAt: before,
        lastSeenAt: before,
        clientAddress: "",
        userAgent: "",
      });
      // The previous version's row: last seen when the database inserted it, about its creation.
      expect(sessions[1]?.clientAddress).toBe("");
      expect(Math.abs((sessions[1]?.lastSeenAt ?? 0) - now)).toBeLessThan(5_000);
    } finally {
      await store.close();
    }
  });
});

describe("upgrading MariaDB to the audit trail (version 4)", () => {
  it("runs again whole after a start that stopped half way, and the trail works", async () => {
    const { url, connection } = await databaseAt(3);
    const audit = migrations.find((m) => m.version === 4)?.statements ?? [];
    expect(audit.join(" ")).toContain("otp_audit_events");
    for (const statement of audit) {
      await connection.query(statement);
    }
    expect(await migrate(connection)).toEqual([4, 5]);
    const store = createMysqlStore(mysql.createPool(poolSettings(url)));
    try {
      await store.recordDeliveryFailure({ email: "ann@example.com", purpose: "login", now: 1 });
      expect(
        await store.listAuditEvents({
          user: { email: "ann@example.com" },
          since: 0,
          after: null,
          limit: 10,
        }),
      ).toMatchObject([{ type: "otp.delivery_failed", at: 1, userId: "" }]);
    } finally {
      await store.close();
    }
  });
});

describe("upgrading MariaDB to keyed hashes (version 5)", () => {
  it("runs again whole after a start that stopped half way; a code without a keyed hash is judged once read", async () => {
    const { url, connection } = await databaseAt(4);
    for (const statement of migrations.find((m) => m.version === 5)?.statements ?? []) {
      await connection.query(statement);
    }
    expect(await migrate(connection)).toEqual([5]);
    const store = createMysqlStore(mysql.createPool(poolSettings(url)));
    try {
      const now = Date.now();
      // As an instance of version 4, still running, activates a code: no keyed hash.
      await store.activateCode({ ...newCode(), issuedAt: now, expiresAt: now + 300_000 });
      await connection.query("UPDATE otp_codes SET keyed_hash = NULL");
      const at = { now, gate: gate(), retainUntil: now + 86_400_000 };
      // By its key, bound or as the latest: nothing compared, nothing counted.
      for (const named of [{ bound: true }, { bound: false, otpId: null }]) {
        expect(
          await store.consumeCode(use({ ...named, ...at, keyed: keyed(CODE_KEY, now + 600_000) })),
        ).toEqual({ kind: "refused" });
      }
      expect(await store.consumeCode(use({ bound: false, ...at }))).toMatchObject({
        kind: "consumed",
      });
    } finally {
      await store.close();
    }
  });
});
