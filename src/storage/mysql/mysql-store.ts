import type { Pool } from "mysql2/promise";
import type { OtpStore } from "../../domain/otp-store.js";
import { createAuditSteps } from "./audit.js";
import { createCodeSteps } from "./codes.js";
import { createIdempotencySteps } from "./idempotency.js";
import { createLimitSteps } from "./limits.js";
import { createQuery, DATABASE_NOW_MS } from "./query.js";
import { createSessionSteps } from "./sessions.js";
import { createUserSteps } from "./users.js";

/**
 * The storage port on MySQL 8.0+ or MariaDB 10.11+, for several instances sharing one database,
 * composed of one module per aggregate (codes and attempts with their users, limits, idempotency
 * keys, sessions), in SQL both engines accept.
 *
 * MySQL has no data-modifying CTEs and no RETURNING, so a step that PostgreSQL does in one
 * statement is here a batch of statements sent in one round trip (the pool's connections allow
 * several statements per query): a transaction whose row locks serialise concurrent steps on the
 * rows they write, and whose later statements act on what its earlier ones did (`ROW_COUNT()`,
 * user variables). No lock is held across a network wait: the batch ends its transaction itself.
 */
export function createMysqlStore(
  pool: Pool,
  options: {
    /** How long a claimed idempotency key stays held without its holder (tests shorten it). */
    readonly idempotencyLeaseMs?: number;
  } = {},
): OtpStore {
  const query = createQuery(pool);
  return {
    ...createCodeSteps(query),
    ...createLimitSteps(query),
    ...createIdempotencySteps(query, options.idempotencyLeaseMs),
    ...createSessionSteps(query),
    ...createUserSteps(query),
    ...createAuditSteps(query),

    async ping() {
      await query("SELECT 1");
    },

    async purgeExpired(now) {
      const { affectedRows } = await query(
        `DELETE FROM otp_codes WHERE retain_until <= :now;
         DELETE FROM otp_attempts WHERE retain_until <= :now;
         DELETE FROM otp_failures WHERE retain_until <= :now;
         DELETE FROM otp_slots WHERE expires_at <= :now;
         DELETE FROM otp_buckets WHERE expires_at <= :now;
         DELETE FROM otp_idempotency
          WHERE expires_at <= :now AND (response IS NOT NULL OR lease_until <= ${DATABASE_NOW_MS});
         DELETE FROM otp_sessions WHERE expires_at <= :now;
         DELETE FROM otp_audit_events WHERE retain_until <= :now`,
        { now },
      );
      return affectedRows;
    },

    async close() {
      await pool.end();
    },
  };
}
