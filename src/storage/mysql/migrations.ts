import type { Connection } from "mysql2/promise";
import { DATABASE_NOW_MS } from "./query.js";

// Every table: InnoDB (row locks and transactions), utf8mb4 with a binary collation, so that keys
// compare byte for byte as in PostgreSQL (the default collations ignore case and accents). Times
// are epoch milliseconds in BIGINT, as the domain passes them: no DATETIME precision or time zone
// to differ between MySQL and MariaDB.
const TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/** How many columns named `column` table `table` has: 0 or 1. */
function columnCount(table: string, column: string): string {
  return `SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = '${table}' AND column_name = '${column}'`;
}

/**
 * `ddl` unless `count` (a query answering one number) finds it done: DDL made safe to run twice
 * in the SQL both engines accept, chosen from information_schema and prepared. Each piece is one
 * statement of the migration, on the migration's one connection.
 */
function unlessInSchema(count: string, ddl: string): string[] {
  return [
    `SET @otp_ddl = IF((${count}) > 0, 'DO 0', '${ddl.replaceAll("'", "''")}')`,
    "PREPARE otp_ddl FROM @otp_ddl",
    "EXECUTE otp_ddl",
    "DEALLOCATE PREPARE otp_ddl",
  ];
}

/**
 * Schema versions, applied in order, each once. Never edit one that has shipped: add another.
 * MySQL commits each DDL statement by itself, so a version that failed half way is run again
 * whole on the next start: each statement must be safe to run twice (`IF NOT EXISTS`).
 */
export const migrations: readonly { readonly version: number; readonly statements: string[] }[] = [
  {
    version: 1,
    statements: [
      // A stable random id per user, kept for good.
      `CREATE TABLE IF NOT EXISTS otp_users (
         email            VARCHAR(320) NOT NULL PRIMARY KEY,
         user_id          VARCHAR(64) NOT NULL,
         created_at       BIGINT NOT NULL,
         authenticated_at BIGINT NULL,
         retain_until     BIGINT NOT NULL,
         UNIQUE KEY otp_users_user_id (user_id)
       ) ${TABLE}`,
      // The active code of each (email, purpose): only its HMAC.
      `CREATE TABLE IF NOT EXISTS otp_codes (
         email        VARCHAR(320) NOT NULL,
         purpose      VARCHAR(64) NOT NULL,
         otp_id       VARCHAR(64) NOT NULL,
         code_hash    VARBINARY(64) NOT NULL,
         issued_at    BIGINT NOT NULL,
         expires_at   BIGINT NOT NULL,
         used_at      BIGINT NULL,
         retain_until BIGINT NOT NULL,
         PRIMARY KEY (email, purpose),
         KEY otp_codes_retain_until (retain_until)
       ) ${TABLE}`,
      // Wrong codes per (email, purpose). The count means nothing once retain_until (the last
      // failure's lockUntil) has passed: the next failure starts again from one.
      `CREATE TABLE IF NOT EXISTS otp_attempts (
         email        VARCHAR(320) NOT NULL,
         purpose      VARCHAR(64) NOT NULL,
         failures     INT NOT NULL,
         locked_until BIGINT NULL,
         retain_until BIGINT NOT NULL,
         PRIMARY KEY (email, purpose),
         KEY otp_attempts_retain_until (retain_until)
       ) ${TABLE}`,
      // One row per limit bucket: the row its takers lock, so that one at a time counts its slots.
      `CREATE TABLE IF NOT EXISTS otp_buckets (
         bucket     VARCHAR(400) NOT NULL PRIMARY KEY,
         expires_at BIGINT NOT NULL,
         KEY otp_buckets_expires_at (expires_at)
       ) ${TABLE}`,
      // The slots taken in each bucket, until they expire.
      `CREATE TABLE IF NOT EXISTS otp_slots (
         bucket     VARCHAR(400) NOT NULL,
         slot_id    VARCHAR(64) NOT NULL,
         expires_at BIGINT NOT NULL,
         PRIMARY KEY (bucket, slot_id),
         KEY otp_slots_expires_at (expires_at)
       ) ${TABLE}`,
      // Idempotency keys: a row without response is held by holder until lease_until. The
      // response is JSON text (no JSON type: MariaDB's is LONGTEXT, MySQL's binary).
      `CREATE TABLE IF NOT EXISTS otp_idempotency (
         email       VARCHAR(320) NOT NULL,
         idem_key    VARCHAR(255) NOT NULL,
         purpose     VARCHAR(64) NOT NULL,
         expires_at  BIGINT NOT NULL,
         response    TEXT NULL,
         holder      VARCHAR(64) NULL,
         lease_until BIGINT NULL,
         PRIMARY KEY (email, idem_key),
         KEY otp_idempotency_expires_at (expires_at)
       ) ${TABLE}`,
      // Sessions that verifications started: only a hash of each token. Kept until they expire,
      // revoked or not.
      `CREATE TABLE IF NOT EXISTS otp_sessions (
         token_hash VARBINARY(64) NOT NULL PRIMARY KEY,
         session_id VARCHAR(64) NOT NULL,
         user_id    VARCHAR(64) NOT NULL,
         email      VARCHAR(320) NOT NULL,
         purpose    VARCHAR(64) NOT NULL,
         created_at BIGINT NOT NULL,
         expires_at BIGINT NOT NULL,
         revoked_at BIGINT NULL,
         UNIQUE KEY otp_sessions_session_id (session_id),
         KEY otp_sessions_email (email),
         KEY otp_sessions_user_id (user_id),
         KEY otp_sessions_expires_at (expires_at)
       ) ${TABLE}`,
    ],
  },
  {
    version: 2,
    // What a person sees of their sessions (ListSessions) and the idle limit (SESSION_IDLE_TTL).
    // The default fills rows an instance of the previous version inserts during a rolling
    // upgrade with the database's time, which is the service's clock (so: their creation time);
    // existing rows were last seen, as far as anyone knows, when they were created.
    // client_address is only ever a masked network; a User-Agent is at most 256 characters.
    statements: [
      ...addColumnIfMissing(
        "otp_sessions",
        "last_seen_at",
        `BIGINT NOT NULL DEFAULT ${DATABASE_NOW_MS}`,
      ),
      ...addColumnIfMissing("otp_sessions", "client_address", "VARCHAR(64) NOT NULL DEFAULT ''"),
      ...addColumnIfMissing("otp_sessions", "user_agent", "VARCHAR(256) NOT NULL DEFAULT ''"),
      "UPDATE otp_sessions SET last_seen_at = created_at WHERE last_seen_at > created_at",
    ],
  },
  {
    version: 3,
    statements: [
      // Several live codes per (email, purpose): a verification names one by its otp_id (and is
      // judged against it alone), or means the pair's latest. Each code counts its own wrong
      // bound attempts; the unbound lane's lock burns a code for unbound verification only.
      ...unlessInSchema(
        `SELECT COUNT(*) FROM information_schema.key_column_usage
          WHERE table_schema = DATABASE() AND table_name = 'otp_codes'
            AND constraint_name = 'PRIMARY' AND column_name = 'otp_id'`,
        "ALTER TABLE otp_codes DROP PRIMARY KEY, ADD PRIMARY KEY (email, purpose, otp_id)",
      ),
      ...addColumnIfMissing("otp_codes", "failures", "INT NOT NULL DEFAULT 0"),
      ...addColumnIfMissing("otp_codes", "unbound_burned", "BOOLEAN NOT NULL DEFAULT FALSE"),
      // The order codes were activated in: the pair's latest is its highest. Not issued_at,
      // which two codes of one millisecond share.
      ...addColumnIfMissing("otp_codes", "seq", "BIGINT NOT NULL AUTO_INCREMENT UNIQUE"),
      ...unlessInSchema(
        `SELECT COUNT(*) FROM information_schema.statistics
          WHERE table_schema = DATABASE() AND table_name = 'otp_codes'
            AND index_name = 'otp_codes_latest'`,
        "CREATE INDEX otp_codes_latest ON otp_codes (email, purpose, seq)",
      ),
      // Each wrong code an account was sent, and the network it came from: the failure cap.
      `CREATE TABLE IF NOT EXISTS otp_failures (
         id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         email        VARCHAR(320) NOT NULL,
         at           BIGINT NOT NULL,
         network      VARCHAR(128) NOT NULL,
         retain_until BIGINT NOT NULL,
         KEY otp_failures_email_at (email, at),
         KEY otp_failures_retain_until (retain_until)
       ) ${TABLE}`,
    ],
  },
  {
    version: 4,
    statements: [
      // The audit trail (SPEC "Session lifecycle"), written by the batch that makes each change.
      // email is the account's key until an erasure empties it (with client_address and
      // user_agent); user_id stays. Never a code or a token.
      `CREATE TABLE IF NOT EXISTS otp_audit_events (
         seq            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
         type           VARCHAR(32) NOT NULL,
         at             BIGINT NOT NULL,
         email          VARCHAR(320) NOT NULL,
         user_id        VARCHAR(64) NOT NULL,
         purpose        VARCHAR(64) NOT NULL,
         session_id     VARCHAR(64) NOT NULL,
         client_address VARCHAR(64) NOT NULL,
         user_agent     VARCHAR(256) NOT NULL,
         request_id     VARCHAR(128) NOT NULL,
         reason         VARCHAR(32) NOT NULL,
         retain_until   BIGINT NOT NULL,
         KEY otp_audit_events_email (email, at, seq),
         KEY otp_audit_events_user_id (user_id, at, seq),
         KEY otp_audit_events_retain_until (retain_until)
       ) ${TABLE}`,
    ],
  },
  {
    version: 5,
    statements: [
      // A code's second HMAC (domain/otp-code.ts keyedCodeHash): of its otp id, keyed by the
      // code's key, so that a verification that has read nothing finds the code its digits
      // make, bound or the pair's latest. NULL for codes written by version 4 and before.
      ...addColumnIfMissing("otp_codes", "keyed_hash", "VARBINARY(64) NULL"),
    ],
  },
];

/**
 * `ALTER TABLE … ADD COLUMN`, run only when the column is missing: MySQL has no `ADD COLUMN IF
 * NOT EXISTS` (MariaDB has).
 */
function addColumnIfMissing(table: string, column: string, definition: string): string[] {
  return unlessInSchema(
    columnCount(table, column),
    `ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`,
  );
}

// Any name works; it only has to be the same for every instance of this service.
const MIGRATION_LOCK = "otp_auth_migrations";
/** How long an instance waits for another one's migrations before giving up. */
const MIGRATION_PATIENCE_MS = 60_000;

/**
 * Brings the schema up to date over `connection` (a connection of its own: the lock is the
 * session's). Safe when several instances start at once: a named lock (`GET_LOCK`) lets one
 * migrate while the others wait, and they then find nothing left to do. The lock is asked for a
 * second at a time, so no server statement bound cuts the wait short.
 */
export async function migrate(connection: Connection): Promise<number[]> {
  const deadline = Date.now() + MIGRATION_PATIENCE_MS;
  for (;;) {
    const [rows] = await connection.query("SELECT GET_LOCK(?, 1) AS locked", [MIGRATION_LOCK]);
    if ((rows as { locked: number | null }[])[0]?.locked === 1) {
      break;
    }
    if (Date.now() >= deadline) {
      throw new Error(`another instance held the migration lock for ${MIGRATION_PATIENCE_MS} ms`);
    }
  }
  try {
    await connection.query(`
      CREATE TABLE IF NOT EXISTS otp_schema_migrations (
        version    INT NOT NULL PRIMARY KEY,
        applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
      ) ${TABLE}`);
    const [rows] = await connection.query("SELECT version FROM otp_schema_migrations");
    const done = new Set((rows as { version: number }[]).map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (!done.has(migration.version)) {
        for (const statement of migration.statements) {
          await connection.query(statement);
        }
        await connection.query("INSERT INTO otp_schema_migrations (version) VALUES (?)", [
          migration.version,
        ]);
        applied.push(migration.version);
      }
    }
    return applied;
  } finally {
    await connection.query("SELECT RELEASE_LOCK(?)", [MIGRATION_LOCK]).catch(() => {});
  }
}
