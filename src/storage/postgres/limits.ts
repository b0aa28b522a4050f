import type { OtpStore, SlotsOutcome } from "../../domain/otp-store.js";
import type { Query } from "./query.js";

/**
 * Rolling-window limits (table otp_slots): a bucket is one row holding its live slots. Taking a
 * slot in several buckets at once is the function otp_take_slots (migrations 4 and 6): one round
 * trip, all or none, serialised on the buckets' rows.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlots" | "releaseSlots"> {
  return {
    async takeSlots({ slotId, now, limits }): Promise<SlotsOutcome> {
      const { rows } = await query<{
        refused: number | null;
        retry_at: string | null;
        remaining: number[] | null;
      }>(
        "otp_take_slots",
        "SELECT refused, retry_at, remaining FROM otp_take_slots($1, $2, $3, $4, $5)",
        [
          limits.map(({ bucket }) => bucket),
          limits.map(({ limit }) => limit.count),
          limits.map(({ limit }) => limit.windowMs),
          slotId,
          now,
        ],
      );
      const row = rows[0];
      if (row?.refused != null) {
        return { granted: false, refused: row.refused, retryAt: Number(row.retry_at) };
      }
      return { granted: true, remaining: row?.remaining ?? [] };
    },

    // One bucket per statement (a failed delivery's path only): each holds one row lock at a
    // time, so it never deadlocks with otp_take_slots.
    async releaseSlots(buckets, slotId) {
      for (const bucket of buckets) {
        await query(
          "otp_release_slot",
          `UPDATE otp_slots SET slots = (
             SELECT coalesce(jsonb_agg(slot ORDER BY position), '[]'::jsonb)
               FROM jsonb_array_elements(slots) WITH ORDINALITY AS e (slot, position)
              WHERE slot->>'id' <> $2)
            WHERE bucket = $1`,
          [bucket, slotId],
        );
      }
    },
  };
}
