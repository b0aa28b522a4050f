import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Pool, QueryResultRow } from "pg";
import type {
  ConsumeOutcome,
  IdempotencyOutcome,
  IssuedOtp,
  OtpState,
  OtpStore,
  SlotOutcome,
  StoredCode,
} from "../../domain/otp-store.js";
import { unavailableAsRefusal } from "./storage-errors.js";

// A claimed idempotency key whose holder vanished (crashed mid-request) is free again after this.
// It must outlast the slowest RequestOtp, which is bounded by the sender's timeout.
const IDEMPOTENCY_LEASE = "30 seconds";
const CLAIM_POLL_FIRST_MS = 10;
const CLAIM_POLL_MAX_MS = 200;

const date = (ms: number) => new Date(ms);
const millis = (value: Date | null): number | null => (value === null ? null : value.getTime());

/**
 * The storage port on PostgreSQL, for several instances sharing one database.
 *
 * Race-freedom comes from single statements, each serialised on the row it writes: a code is used
 * by one guarded UPDATE (`… AND used_at IS NULL`), a failure is counted by one upsert that
 * re-reads the latest row version, a limit bucket is one row whose upsert decides a grant (and
 * does not run while a pair it must respect is locked, read in the same statement), and an
 * idempotency key is claimed by one conditional upsert. Single statements rather than
 * transactions with row locks: one round trip each, and no lock is held across a network wait.
 * A second statement runs only to explain a refusal that a concurrent writer caused.
 */
export function createPostgresStore(pool: Pool): OtpStore {
  // Named, so that each connection parses and plans a statement once, then only binds it. A name
  // must always go with the same text (node-postgres refuses otherwise): names are per call site.
  const query = <R extends QueryResultRow>(name: string, text: string, values: unknown[] = []) =>
    unavailableAsRefusal(() => pool.query<R>({ name, text, values }));
  // Keys this process holds, and the holder id that proves it.
  const held = new Map<string, string>();
  const heldKey = (email: string, key: string) => `${email}\n${key}`;

  async function readOtpState(email: string, purpose: string): Promise<OtpState> {
    const { rows } = await query<{
      otp_id: string | null;
      code_hash: Buffer | null;
      issued_at: Date | null;
      expires_at: Date | null;
      used_at: Date | null;
      locked_until: Date | null;
    }>(
      "otp_read_state",
      `SELECT c.otp_id, c.code_hash, c.issued_at, c.expires_at, c.used_at, a.locked_until
         FROM (VALUES ($1::text, $2::text)) AS k (email, purpose)
         LEFT JOIN otp_codes c ON c.email = k.email AND c.purpose = k.purpose
         LEFT JOIN otp_attempts a ON a.email = k.email AND a.purpose = k.purpose`,
      [email, purpose],
    );
    const row = rows[0];
    let code: StoredCode | null = null;
    if (row?.otp_id != null && row.code_hash !== null && row.issued_at && row.expires_at) {
      code = {
        otpId: row.otp_id,
        codeHash: new Uint8Array(row.code_hash),
        issuedAt: row.issued_at.getTime(),
        expiresAt: row.expires_at.getTime(),
        usedAt: millis(row.used_at),
      };
    }
    return { code, lockedUntil: millis(row?.locked_until ?? null) };
  }

  return {
    readOtpState,

    async activateCode(code) {
      await query(
        "otp_activate_code",
        `WITH code AS (
           INSERT INTO otp_codes (email, purpose, otp_id, code_hash, issued_at, expires_at, used_at, retain_until)
           VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)
           ON CONFLICT (email, purpose) DO UPDATE SET
             otp_id = EXCLUDED.otp_id, code_hash = EXCLUDED.code_hash, issued_at = EXCLUDED.issued_at,
             expires_at = EXCLUDED.expires_at, used_at = NULL, retain_until = EXCLUDED.retain_until
         )
         INSERT INTO otp_users (email, created_at, retain_until) VALUES ($1, $5, $7)
         ON CONFLICT (email) DO NOTHING`,
        [
          code.email,
          code.purpose,
          code.otpId,
          Buffer.from(code.codeHash),
          date(code.issuedAt),
          date(code.expiresAt),
          date(code.retainUntil),
        ],
      );
    },

    async consumeCode(use): Promise<ConsumeOutcome> {
      const { rows } = await query<{ consumed: boolean }>(
        "otp_consume_code",
        `WITH lock AS (
           SELECT 1 FROM otp_attempts WHERE email = $1 AND purpose = $2 AND locked_until > $4
         ), used AS (
           UPDATE otp_codes SET used_at = $4
            WHERE email = $1 AND purpose = $2 AND otp_id = $3 AND used_at IS NULL AND expires_at > $4
              AND NOT EXISTS (SELECT 1 FROM lock)
           RETURNING email
         ), cleared AS (
           DELETE FROM otp_attempts WHERE email = $1 AND purpose = $2 AND EXISTS (SELECT 1 FROM used)
         ), authenticated AS (
           INSERT INTO otp_users (email, created_at, authenticated_at, retain_until)
           SELECT $1, $4, $4, $5 FROM used
           ON CONFLICT (email) DO UPDATE SET authenticated_at = EXCLUDED.authenticated_at,
             retain_until = GREATEST(otp_users.retain_until, EXCLUDED.retain_until)
         )
         SELECT EXISTS (SELECT 1 FROM used) AS consumed`,
        [use.email, use.purpose, use.otpId, date(use.now), date(use.retainUntil)],
      );
      if (rows[0]?.consumed === true) {
        return { kind: "consumed" };
      }
      // Refused: read again (a new snapshot, so a concurrent writer's change is seen) to say why.
      const state = await readOtpState(use.email, use.purpose);
      if (state.lockedUntil !== null && state.lockedUntil > use.now) {
        return { kind: "locked", lockedUntil: state.lockedUntil };
      }
      if (state.code === null || state.code.otpId !== use.otpId) {
        return { kind: "replaced" };
      }
      if (state.code.usedAt !== null) {
        return { kind: "used" };
      }
      return { kind: "expired" };
    },

    async recordFailure(failure) {
      const now = date(failure.now);
      const lockUntil = date(failure.lockUntil);
      // The upsert's WHERE skips a locked row, so RETURNING is empty exactly when not counted.
      const { rows } = await query<{ failures: number; locked_until: Date | null }>(
        "otp_record_failure",
        `WITH counted AS (
           INSERT INTO otp_attempts AS a (email, purpose, failures, locked_until, retain_until)
           VALUES ($1, $2, 1, CASE WHEN 1 >= $4 THEN $5::timestamptz END, $5)
           ON CONFLICT (email, purpose) DO UPDATE SET
             failures = CASE WHEN a.retain_until <= $3 THEN 1 ELSE a.failures + 1 END,
             locked_until = CASE WHEN (CASE WHEN a.retain_until <= $3 THEN 1 ELSE a.failures + 1 END) >= $4
                                 THEN $5::timestamptz END,
             retain_until = $5
           WHERE a.locked_until IS NULL OR a.locked_until <= $3
           RETURNING failures, locked_until
         ), burned AS (
           DELETE FROM otp_codes WHERE email = $1 AND purpose = $2
              AND EXISTS (SELECT 1 FROM counted WHERE locked_until IS NOT NULL)
         )
         SELECT failures, locked_until FROM counted`,
        [failure.email, failure.purpose, now, failure.lockAt, lockUntil],
      );
      const counted = rows[0];
      if (counted !== undefined) {
        return { failures: counted.failures, lockedUntil: millis(counted.locked_until) };
      }
      const { lockedUntil } = await readOtpState(failure.email, failure.purpose);
      return { failures: 0, lockedUntil };
    },

    async takeSlot(request): Promise<SlotOutcome> {
      const expiresAt = request.now + request.limit.windowMs;
      // Without `unlessLocked` the pair is (NULL, NULL), which matches no row: never locked. With
      // a lock, the SELECT proposes no row, so neither the insert nor the conflict update runs.
      const { rows } = await query<{
        locked_until: Date | null;
        slots: { id: string; exp: number }[] | null;
      }>(
        "otp_take_slot",
        `WITH lock AS (
           SELECT locked_until FROM otp_attempts
            WHERE email = $7::text AND purpose = $8::text AND locked_until > $9::timestamptz
         ), slot AS (
           INSERT INTO otp_slots AS s (bucket, slots, expires_at)
           SELECT $1::text, jsonb_build_array(jsonb_build_object('id', $2::text, 'exp', $3::bigint)),
                  $4::timestamptz
            WHERE NOT EXISTS (SELECT 1 FROM lock)
           ON CONFLICT (bucket) DO UPDATE SET
             slots = CASE WHEN jsonb_array_length(otp_live_slots(s.slots, $5)) < $6
                          THEN otp_live_slots(s.slots, $5) || EXCLUDED.slots
                          ELSE otp_live_slots(s.slots, $5) END,
             expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at)
           RETURNING slots
         )
         SELECT (SELECT locked_until FROM lock) AS locked_until, (SELECT slots FROM slot) AS slots`,
        [
          request.bucket,
          request.slotId,
          expiresAt,
          date(expiresAt),
          request.now,
          request.limit.count,
          request.unlessLocked?.email ?? null,
          request.unlessLocked?.purpose ?? null,
          date(request.now),
        ],
      );
      const lockedUntil = millis(rows[0]?.locked_until ?? null);
      if (lockedUntil !== null) {
        return { granted: false, lockedUntil };
      }
      const slots = rows[0]?.slots ?? [];
      if (slots.at(-1)?.id === request.slotId) {
        return { granted: true, remaining: request.limit.count - slots.length };
      }
      return { granted: false, retryAt: Number(slots[0]?.exp ?? expiresAt) };
    },

    async releaseSlot(bucket, slotId) {
      await query(
        "otp_release_slot",
        `UPDATE otp_slots SET slots = (
           SELECT coalesce(jsonb_agg(slot ORDER BY position), '[]'::jsonb)
             FROM jsonb_array_elements(slots) WITH ORDINALITY AS e (slot, position)
            WHERE slot->>'id' <> $2)
          WHERE bucket = $1`,
        [bucket, slotId],
      );
    },

    async claimIdempotencyKey(claim): Promise<IdempotencyOutcome> {
      const holder = randomUUID();
      for (let wait = CLAIM_POLL_FIRST_MS; ; wait = Math.min(wait * 2, CLAIM_POLL_MAX_MS)) {
        // The SELECT sees the statement's snapshot: a row another instance committed a moment ago
        // may be missing from it, which reads as "held" and is simply looked at again.
        const { rows } = await query<{
          claimed: boolean;
          purpose: string | null;
          response: IssuedOtp | null;
        }>(
          "otp_claim_key",
          `WITH claim AS (
             INSERT INTO otp_idempotency AS i (email, key, purpose, expires_at, response, holder, lease_until)
             VALUES ($1, $2, $3, $4, NULL, $5, clock_timestamp() + $6::interval)
             ON CONFLICT (email, key) DO UPDATE SET
               purpose = EXCLUDED.purpose, expires_at = EXCLUDED.expires_at, response = NULL,
               holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until
             WHERE i.expires_at <= $7 OR (i.response IS NULL AND i.lease_until <= clock_timestamp())
             RETURNING 1
           )
           SELECT EXISTS (SELECT 1 FROM claim) AS claimed, i.purpose, i.response
             FROM (VALUES (1)) AS one (x)
             LEFT JOIN otp_idempotency i ON i.email = $1 AND i.key = $2 AND i.expires_at > $7`,
          [
            claim.email,
            claim.key,
            claim.purpose,
            date(claim.expiresAt),
            holder,
            IDEMPOTENCY_LEASE,
            date(claim.now),
          ],
        );
        const row = rows[0];
        if (row?.claimed) {
          held.set(heldKey(claim.email, claim.key), holder);
          return { kind: "claimed" };
        }
        if (row?.purpose != null && row.purpose !== claim.purpose) {
          return { kind: "mismatch" };
        }
        if (row?.response != null) {
          return { kind: "replay", response: row.response };
        }
        await sleep(wait);
      }
    },

    async completeIdempotencyKey(email, key, response) {
      const holder = held.get(heldKey(email, key));
      held.delete(heldKey(email, key));
      await query(
        "otp_complete_key",
        `UPDATE otp_idempotency SET response = $3, holder = NULL, lease_until = NULL
          WHERE email = $1 AND key = $2 AND holder = $4`,
        [email, key, JSON.stringify(response), holder ?? null],
      );
    },

    async releaseIdempotencyKey(email, key) {
      const holder = held.get(heldKey(email, key));
      held.delete(heldKey(email, key));
      await query(
        "otp_release_key",
        `DELETE FROM otp_idempotency
          WHERE email = $1 AND key = $2 AND holder = $3 AND response IS NULL`,
        [email, key, holder ?? null],
      );
    },

    async readAuthentication(email) {
      const { rows } = await query<{ authenticated_at: Date | null }>(
        "otp_read_authentication",
        "SELECT authenticated_at FROM otp_users WHERE email = $1",
        [email],
      );
      return millis(rows[0]?.authenticated_at ?? null);
    },

    async ping() {
      await query("otp_ping", "SELECT 1");
    },

    async purgeExpired(now) {
      const { rows } = await query<{ purged: string }>(
        "otp_purge",
        `WITH c AS (DELETE FROM otp_codes WHERE retain_until <= $1 RETURNING 1),
              a AS (DELETE FROM otp_attempts WHERE retain_until <= $1 RETURNING 1),
              u AS (DELETE FROM otp_users WHERE retain_until <= $1 RETURNING 1),
              s AS (DELETE FROM otp_slots WHERE expires_at <= $1 RETURNING 1),
              i AS (DELETE FROM otp_idempotency
                     WHERE expires_at <= $1 AND (response IS NOT NULL OR lease_until <= clock_timestamp())
                    RETURNING 1)
         SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM a) + (SELECT count(*) FROM u)
              + (SELECT count(*) FROM s) + (SELECT count(*) FROM i) AS purged`,
        [date(now)],
      );
      return Number(rows[0]?.purged ?? 0);
    },

    async close() {
      await pool.end();
    },
  };
}
