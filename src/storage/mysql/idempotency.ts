import { randomUUID } from "node:crypto";
import type { IdempotencyOutcome, IssuedOtp, OtpStore } from "../../domain/otp-store.js";
import { pollClaim } from "../poll-claim.js";
import { DATABASE_NOW_MS, type Query } from "./query.js";

// A claimed idempotency key whose holder vanished (crashed mid-request) is free again after this.
// It must outlast the slowest RequestOtp, which is bounded by the sender's timeout.
const IDEMPOTENCY_LEASE_MS = 30_000;

type IdempotencySteps = Pick<
  OtpStore,
  "claimIdempotencyKey" | "completeIdempotencyKey" | "releaseIdempotencyKey"
>;

/**
 * Idempotency keys (table otp_idempotency): a key is claimed in one batch that locks its row (an
 * upsert creating it, held by us, if missing) and takes it over only when it expired or its
 * holder's lease lapsed (by the database's clock); only the holder completes or releases it. The
 * response is stored as JSON text, parsed here: no JSON functions, which MySQL and MariaDB differ on.
 */
export function createIdempotencySteps(
  query: Query,
  leaseMs: number = IDEMPOTENCY_LEASE_MS,
): IdempotencySteps {
  return {
    async claimIdempotencyKey(claim): Promise<IdempotencyOutcome> {
      const holder = randomUUID();
      const params = {
        email: claim.email,
        key: claim.key,
        purpose: claim.purpose,
        now: claim.now,
        expiresAt: claim.expiresAt,
        holder,
        leaseMs,
      };
      return pollClaim(async () => {
        const rows = (
          await query(
            `START TRANSACTION;
             INSERT INTO otp_idempotency (email, idem_key, purpose, expires_at, response, holder, lease_until)
             VALUES (:email, :key, :purpose, :expiresAt, NULL, :holder, ${DATABASE_NOW_MS} + :leaseMs)
             ON DUPLICATE KEY UPDATE email = email;
             UPDATE otp_idempotency
                SET purpose = :purpose, expires_at = :expiresAt, response = NULL, holder = :holder,
                    lease_until = ${DATABASE_NOW_MS} + :leaseMs
              WHERE email = :email AND idem_key = :key
                AND (expires_at <= :now OR (response IS NULL AND lease_until <= ${DATABASE_NOW_MS}));
             SELECT holder = :holder AS claimed, purpose, response FROM otp_idempotency
              WHERE email = :email AND idem_key = :key;
             COMMIT`,
            params,
          )
        ).rows<{ claimed: number | null; purpose: string; response: string | null }>();
        const row = rows[0];
        if (row?.claimed === 1) {
          return { kind: "claimed", holder };
        }
        if (row !== undefined && row.purpose !== claim.purpose) {
          return { kind: "mismatch" };
        }
        if (row?.response != null) {
          return { kind: "replay", response: JSON.parse(row.response) as IssuedOtp };
        }
        // Held by another request: look again soon, while our caller still waits for an answer.
        return undefined;
      }, claim.signal);
    },

    async completeIdempotencyKey(email, key, holder, response) {
      await query(
        `UPDATE otp_idempotency SET response = :response, holder = NULL, lease_until = NULL
          WHERE email = :email AND idem_key = :key AND holder = :holder`,
        { email, key, holder, response: JSON.stringify(response) },
      );
    },

    async releaseIdempotencyKey(email, key, holder) {
      await query(
        `DELETE FROM otp_idempotency
          WHERE email = :email AND idem_key = :key AND holder = :holder AND response IS NULL`,
        { email, key, holder },
      );
    },
  };
}
