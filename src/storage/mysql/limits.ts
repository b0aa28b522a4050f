import type { OtpStore, SlotOutcome } from "../../domain/otp-store.js";
import type { Query } from "./query.js";

/**
 * Rolling-window limits (tables otp_buckets, otp_slots): a slot is a row of otp_slots, and a
 * bucket's row in otp_buckets is the lock its takers queue on. One batch in one round trip: an
 * upsert locks the bucket row, the bucket's dead slots go, and a slot is inserted only while fewer
 * than the limit are live, counted under that lock.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlot" | "releaseSlot"> {
  return {
    async takeSlot(request): Promise<SlotOutcome> {
      const expiresAt = request.now + request.limit.windowMs;
      const rows = (
        await query(
          `START TRANSACTION;
           INSERT INTO otp_buckets (bucket, expires_at) VALUES (:bucket, :expiresAt)
           ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, :expiresAt);
           DELETE FROM otp_slots WHERE bucket = :bucket AND expires_at <= :now;
           SET @otp_live = (SELECT COUNT(*) FROM otp_slots WHERE bucket = :bucket);
           INSERT INTO otp_slots (bucket, slot_id, expires_at)
           SELECT :bucket, :slotId, :expiresAt FROM DUAL WHERE @otp_live < :count;
           SET @otp_granted = ROW_COUNT();
           SELECT @otp_granted AS granted, @otp_live AS live,
                  (SELECT MIN(expires_at) FROM otp_slots WHERE bucket = :bucket) AS oldest;
           COMMIT`,
          {
            bucket: request.bucket,
            slotId: request.slotId,
            now: request.now,
            expiresAt,
            count: request.limit.count,
          },
        )
      ).rows<{ granted: number; live: number | null; oldest: number | null }>();
      const row = rows[0];
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
