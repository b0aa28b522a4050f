import type { OtpStore } from "../../domain/otp-store.js";
import { createAuditSteps } from "./audit.js";
import { createCodeSteps } from "./codes.js";
import { createIdempotencySteps } from "./idempotency.js";
import { createLimitSteps } from "./limits.js";
import { createQuery, createTransact, date, type Pooler, type StatementPool } from "./query.js";
import { createSessionSteps } from "./sessions.js";
import { createUserSteps } from "./users.js";

/**
 * The storage port on PostgreSQL, for several instances sharing one database, composed of one
 * module per aggregate (codes and attempts with their users, limits, idempotency keys, sessions).
 *
 * Race-freedom comes from single statements, each serialised on the row it writes, or on the
 * account's gate for the two steps that judge an attempt (see each module). Single statements
 * rather than client-side transactions: one round trip each, and no lock is held across a network
 * wait. The operator's steps on a whole user (users.ts) are the exception: rare, and they must
 * read after a lock, so they are short transactions. Behind a transaction pooler (`pooler`),
 * statements are
 * unnamed (see createQuery).
 */
export function createPostgresStore(
  pool: StatementPool,
  options: {
    /** `transaction` behind a transaction pooler: statements are then unnamed. */
    readonly pooler?: Pooler;
    /** How long a claimed idempotency key stays held without its holder (tests shorten it). */
    readonly idempotencyLease?: string;
  } = {},
): OtpStore {
  const query = createQuery(pool, options.pooler ?? "none");
  return {
    ...createCodeSteps(query),
    ...createLimitSteps(query),
    ...createIdempotencySteps(query, options.idempotencyLease),
    ...createSessionSteps(query),
    ...createUserSteps(query, createTransact(pool, options.pooler ?? "none")),
    ...createAuditSteps(query),

    async ping() {
      await query("otp_ping", "SELECT 1");
    },

    async purgeExpired(now) {
      const { rows } = await query<{ purged: string }>(
        "otp_purge",
        `WITH c AS (DELETE FROM otp_codes WHERE retain_until <= $1 RETURNING 1),
              a AS (DELETE FROM otp_attempts WHERE retain_until <= $1 RETURNING 1),
              f AS (DELETE FROM otp_failures WHERE retain_until <= $1 RETURNING 1),
              s AS (DELETE FROM otp_slots WHERE expires_at <= $1 RETURNING 1),
              i AS (DELETE FROM otp_idempotency
                     WHERE expires_at <= $1 AND (response IS NOT NULL OR lease_until <= clock_timestamp())
                    RETURNING 1),
              se AS (DELETE FROM otp_sessions WHERE expires_at <= $1 RETURNING 1),
              ae AS (DELETE FROM otp_audit_events WHERE retain_until <= $1 RETURNING 1)
         SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM a) + (SELECT count(*) FROM f)
              + (SELECT count(*) FROM s) + (SELECT count(*) FROM i) + (SELECT count(*) FROM se)
              + (SELECT count(*) FROM ae) AS purged`,
        [date(now)],
      );
      return Number(rows[0]?.purged ?? 0);
    },

    async close() {
      await pool.end();
    },
  };
}
