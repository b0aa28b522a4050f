import type { OtpStore, SlotOutcome } from "../../domain/otp-store.js";
import type { Query } from "./query.js";

/**
 * Rolling-window limits (tables otp_buckets, otp_slots): a slot is a row of otp_slots, and a
 * bucket's row in otp_buckets is the lock its takers queue on. One batch in one round trip: the
 * lock of the pair it must respect is read first; unless locked, an upsert locks the bucket row,
 * the bucket's dead slots go, and a slot is inserted only while fewer than the limit are live,
 * counted under that lock. A locked pair's request touches no bucket and uses no quota.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlot" | "releaseSlot"> {
  return {
    async takeSlot(request): Promise<SlotOutcome> {
      const expiresAt = request.now + request.limit.windowMs;
      // Without `unlessLocked` the pair is (NULL, NULL), which matches no row: never locked.
      const rows = (
        await query(
          `START TRANSACTION;
           SET @otp_locked_until = (SELECT locked_until FROM otp_attempts
                                     WHERE email = :lockEmail AND purpose = :lockPurpose
                                       AND locked_until > :now);
           INSERT INTO otp_buckets (bucket, expires_at)
           SELECT :bucket, :expiresAt FROM DUAL WHERE @otp_locked_until IS NULL
           ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, :expiresAt);
           DELETE FROM otp_slots
            WHERE bucket = :bucket AND expires_at <= :now AND @otp_locked_until IS NULL;
           SET @otp_live = (SELECT COUNT(*) FROM otp_slots WHERE bucket = :bucket);
           INSERT INTO otp_slots (bucket, slot_id, expires_at)
           SELECT :bucket, :slotId, :expiresAt FROM DUAL
            WHERE @otp_locked_until IS NULL AND @otp_live < :count;
           SET @otp_granted = ROW_COUNT();
           SELECT @otp_locked_until AS locked_until, @otp_granted AS granted, @otp_live AS live,
                  (SELECT MIN(expires_at) FROM otp_slots WHERE bucket = :bucket) AS oldest;
           COMMIT`,
          {
            bucket: request.bucket,
            slotId: request.slotId,
            now: request.now,
            expiresAt,
            count: request.limit.count,
            lockEmail: request.unlessLocked?.email ?? null,
            lockPurpose: request.unlessLocked?.purpose ?? null,
          },
        )
      ).rows<{
        locked_until: number | null;
        granted: number;
        live: number | null;
        oldest: number | null;
      }>();
      const row = rows[0];
      if (row?.locked_until != null) {
        return { granted: false, lockedUntil: row.locked_until };
      }
      if (row?.granted === 1) {
        return { granted: true, remaining: request.limit.count - (row.live ?? 0) - 1 };
      }
      return { granted: false, retryAt: row?.oldest ?? expiresAt };
    },

    async releaseSlot(bucket, slotId) {
      await query("DELETE FROM otp_slots WHERE bucket = :bucket AND slot_id = :slotId", {
        bucket,
        slotId,
      });
    },
  };
}
