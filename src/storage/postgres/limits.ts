import type { OtpStore, SlotOutcome } from "../../domain/otp-store.js";
import { date, type Query } from "./query.js";

/** Rolling-window limits (table otp_slots): a bucket is one row whose upsert decides a grant. */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlot" | "releaseSlot"> {
  return {
    async takeSlot(request): Promise<SlotOutcome> {
      const expiresAt = request.now + request.limit.windowMs;
      const { rows } = await query<{ slots: { id: string; exp: number }[] }>(
        "otp_take_slot",
        `INSERT INTO otp_slots AS s (bucket, slots, expires_at)
         VALUES ($1::text, jsonb_build_array(jsonb_build_object('id', $2::text, 'exp', $3::bigint)),
                 $4::timestamptz)
         ON CONFLICT (bucket) DO UPDATE SET
           slots = CASE WHEN jsonb_array_length(otp_live_slots(s.slots, $5)) < $6
                        THEN otp_live_slots(s.slots, $5) || EXCLUDED.slots
                        ELSE otp_live_slots(s.slots, $5) END,
           expires_at = GREATEST(s.expires_at, EXCLUDED.expires_at)
         RETURNING slots`,
        [
          request.bucket,
          request.slotId,
          expiresAt,
          date(expiresAt),
          request.now,
          request.limit.count,
        ],
      );
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
