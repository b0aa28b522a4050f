import type { Pool } from "pg";

/**
 * Schema versions, applied in order, each once. Never edit one that has shipped: add another.
 *
 * Times the domain compares are `timestamptz`; slot expiries inside `otp_slots.slots` are epoch
 * milliseconds, as the domain passes them.
 */
export const migrations: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE otp_users (
        email            text PRIMARY KEY,
        created_at       timestamptz NOT NULL,
        authenticated_at timestamptz,
        retain_until     timestamptz NOT NULL
      );
      CREATE INDEX otp_users_retain_until ON otp_users (retain_until);

      -- The active code of each (email, purpose): only its HMAC.
      CREATE TABLE otp_codes (
        email        text NOT NULL,
        purpose      text NOT NULL,
        otp_id       text NOT NULL,
        code_hash    bytea NOT NULL,
        issued_at    timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL,
        used_at      timestamptz,
        retain_until timestamptz NOT NULL,
        PRIMARY KEY (email, purpose)
      );
      CREATE INDEX otp_codes_retain_until ON otp_codes (retain_until);

      -- Wrong codes per (email, purpose). The count means nothing once retain_until (the last
      -- failure's lockUntil) has passed: the next failure starts again from one.
      CREATE TABLE otp_attempts (
        email        text NOT NULL,
        purpose      text NOT NULL,
        failures     integer NOT NULL,
        locked_until timestamptz,
        retain_until timestamptz NOT NULL,
        PRIMARY KEY (email, purpose)
      );
      CREATE INDEX otp_attempts_retain_until ON otp_attempts (retain_until);

      -- One row per limit bucket holding its live slots, so that one upsert, serialised on the
      -- row, decides a grant: [{"id": slot id, "exp": epoch ms}, ...] oldest first.
      CREATE TABLE otp_slots (
        bucket     text PRIMARY KEY,
        slots      jsonb NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX otp_slots_expires_at ON otp_slots (expires_at);

      -- The slots of a bucket that are still live at now_ms, oldest first.
      CREATE FUNCTION otp_live_slots(slots jsonb, now_ms bigint) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(jsonb_agg(slot ORDER BY (slot->>'exp')::bigint), '[]'::jsonb)
        FROM jsonb_array_elements(slots) AS slot
        WHERE (slot->>'exp')::bigint > now_ms
      $$;

      -- Idempotency keys: a row without response is held by holder until lease_until.
      CREATE TABLE otp_idempotency (
        email       text NOT NULL,
        key         text NOT NULL,
        purpose     text NOT NULL,
        expires_at  timestamptz NOT NULL,
        response    jsonb,
        holder      text,
        lease_until timestamptz,
        PRIMARY KEY (email, key)
      );
      CREATE INDEX otp_idempotency_expires_at ON otp_idempotency (expires_at);
    `,
  },
  {
    version: 2,
    sql: `
      -- A stable random id per user (22 URL-safe characters, 122 random bits). The default also
      -- gives every existing row its own id, and rows that an instance of the previous version
      -- inserts during a rolling upgrade.
      ALTER TABLE otp_users ADD COLUMN user_id text NOT NULL
        DEFAULT translate(encode(decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64'), '+/=', '-_');
      CREATE UNIQUE INDEX otp_users_user_id ON otp_users (user_id);

      -- Sessions that verifications started: only a hash of each token. Kept until they expire,
      -- revoked or not.
      CREATE TABLE otp_sessions (
        token_hash bytea PRIMARY KEY,
        session_id text NOT NULL UNIQUE,
        user_id    text NOT NULL,
        email      text NOT NULL,
        purpose    text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz
      );
      CREATE INDEX otp_sessions_email ON otp_sessions (email);
      CREATE INDEX otp_sessions_user_id ON otp_sessions (user_id);
      CREATE INDEX otp_sessions_expires_at ON otp_sessions (expires_at);
    `,
  },
  {
    version: 3,
    sql: `
      -- What a person sees of their sessions (ListSessions) and the idle limit
      -- (SESSION_IDLE_TTL). The defaults fill rows an instance of the previous version inserts
      -- during a rolling upgrade: now() is the database's clock, which is the service's, so
      -- last_seen_at is then the creation time; existing rows were last seen, as far as anyone
      -- knows, when they were created. client_address is only ever a masked network.
      ALTER TABLE otp_sessions
        ADD COLUMN last_seen_at   timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN client_address text NOT NULL DEFAULT '',
        ADD COLUMN user_agent     text NOT NULL DEFAULT '';
      UPDATE otp_sessions SET last_seen_at = created_at;
    `,
  },
];

// Any constant works; it only has to be the same for every instance of this service.
const MIGRATION_LOCK = 4_201_337;

/**
 * Brings the schema up to date. Safe when several instances start at once: a transaction-scoped
 * advisory lock lets one migrate while the others wait, and they then find nothing left to do.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS otp_schema_migrations (
        version    integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ version: number }>(
      "SELECT version FROM otp_schema_migrations",
    );
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (!done.has(migration.version)) {
        await client.query(migration.sql);
        await client.query("INSERT INTO otp_schema_migrations (version) VALUES ($1)", [
          migration.version,
        ]);
        applied.push(migration.version);
      }
    }
    await client.query("COMMIT");
    return applied;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
