import type { OtpStore, SlotOutcome } from "../../domain/otp-store.js";
import { date, millis, type Query } from "./query.js";

/**
 * Rolling-window limits (table otp_slots): a bucket is one row whose upsert decides a grant, and
 * does not run while a pair it must respect is locked, read in the same statement.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlot" | "releaseSlot"> {
  return {
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
  };
}
