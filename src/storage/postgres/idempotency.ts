import { randomUUID } from "node:crypto";
import type { IdempotencyOutcome, IssuedOtp, OtpStore } from "../../domain/otp-store.js";
import { pollClaim } from "../poll-claim.js";
import { date, type Query } from "./query.js";

// A claimed idempotency key whose holder vanished (crashed mid-request) is free again after this.
// It must outlast the slowest RequestOtp, which is bounded by the sender's timeout.
const IDEMPOTENCY_LEASE = "30 seconds";

type IdempotencySteps = Pick<
  OtpStore,
  "claimIdempotencyKey" | "completeIdempotencyKey" | "releaseIdempotencyKey"
>;

/**
 * Idempotency keys (table otp_idempotency): a key is claimed by one conditional upsert that
 * records a holder and a lease; only the holder completes or releases it.
 */
export function createIdempotencySteps(
  query: Query,
  lease: string = IDEMPOTENCY_LEASE,
): IdempotencySteps {
  return {
    async claimIdempotencyKey(claim): Promise<IdempotencyOutcome> {
      const holder = randomUUID();
      return pollClaim(async (): Promise<IdempotencyOutcome | undefined> => {
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
            lease,
            date(claim.now),
          ],
        );
        const row = rows[0];
        if (row?.claimed) {
          return { kind: "claimed", holder };
        }
        if (row?.purpose != null && row.purpose !== claim.purpose) {
          return { kind: "mismatch" };
        }
        if (row?.response != null) {
          return { kind: "replay", response: row.response };
        }
        // Held by another request: look again soon, while our caller still waits for an answer.
        return undefined;
      }, claim.signal);
    },

    async completeIdempotencyKey(email, key, holder, response) {
      await query(
        "otp_complete_key",
        `UPDATE otp_idempotency SET response = $3, holder = NULL, lease_until = NULL
          WHERE email = $1 AND key = $2 AND holder = $4`,
        [email, key, JSON.stringify(response), holder],
      );
    },

    async releaseIdempotencyKey(email, key, holder) {
      await query(
        "otp_release_key",
        `DELETE FROM otp_idempotency
          WHERE email = $1 AND key = $2 AND holder = $3 AND response IS NULL`,
        [email, key, holder],
      );
    },
  };
}
