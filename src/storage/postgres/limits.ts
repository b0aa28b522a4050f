import type { OtpStore, SlotLimit, SlotsOutcome } from "../../domain/otp-store.js";
import { bucketsWithShares } from "../share-buckets.js";
import type { Query } from "./query.js";

/** A slot as a bucket's row holds it: `tag` and `texp` only when taken with a share. */
interface RowSlot {
  readonly id: string;
  readonly exp: number;
  readonly tag?: string;
  readonly texp?: number;
}

/**
 * Rolling-window limits (table otp_slots): a bucket is one row holding its live slots, and its
 * share's too, tagged (migration 8). A request of one bucket is the function otp_take_slot_row,
 * one statement on its row; of several, otp_take_shared_slots, one upsert of their rows and,
 * when one is full, an undo in the same transaction: one round trip, all or none, serialised on
 * the buckets' rows either way. Both answer the rows' slots as their upsert left them, and the
 * answer is read from those.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlots" | "releaseSlots"> {
  return {
    async takeSlots({ slotId, now, limits }) {
      const [only] = limits;
      if (limits.length === 1 && only !== undefined) {
        const { rows } = await query<{ slots: RowSlot[] }>(
          "otp_take_slot_row",
          "SELECT otp_take_slot_row($1, $2, $3, $4, $5, $6, $7, $8) AS slots",
          [
            only.bucket,
            slotId,
            now,
            now + only.limit.windowMs,
            only.limit.count,
            only.share?.tag ?? null,
            only.share?.limit.count ?? null,
            only.share === undefined ? null : now + only.share.limit.windowMs,
          ],
        );
        return outcomeOfRows(slotId, now, limits, [rows[0]?.slots ?? []]);
      }
      const { rows } = await query<{ slots: RowSlot[][] }>(
        "otp_take_shared_slots",
        "SELECT slots FROM otp_take_shared_slots($1, $2, $3, $4, $5, $6, $7, $8)",
        [
          limits.map(({ bucket }) => bucket),
          limits.map(({ limit }) => limit.count),
          limits.map(({ limit }) => limit.windowMs),
          limits.map(({ share }) => share?.tag ?? null),
          limits.map(({ share }) => share?.limit.count ?? null),
          limits.map(({ share }) => share?.limit.windowMs ?? null),
          slotId,
          now,
        ],
      );
      return outcomeOfRows(slotId, now, limits, rows[0]?.slots ?? []);
    },

    // One bucket per statement (a failed delivery's path only): each holds one row lock at a
    // time, so it never deadlocks with otp_take_shared_slots. A share's own row is left by an
    // instance of version 7 only, never with this slot; it is cleared too all the same.
    async releaseSlots(limits, slotId) {
      for (const bucket of bucketsWithShares(limits)) {
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

/**
 * The answer, from each bucket's slots as its upsert left them (`rows[i]` for `limits[i]`): the
 * slot was taken in a bucket if it is the last of its slots, and refused by the first bucket in
 * which it was not, by its share if the share was full.
 */
function outcomeOfRows(
  slotId: string,
  now: number,
  limits: readonly SlotLimit[],
  rows: readonly (readonly RowSlot[])[],
): SlotsOutcome {
  const counted = limits.map(({ limit, share }, i) => {
    const slots = rows[i] ?? [];
    const inBucket = slots.filter((slot) => slot.exp > now);
    const inShare =
      share === undefined
        ? []
        : slots.filter((slot) => slot.tag === share.tag && (slot.texp ?? 0) > now);
    return {
      took: slots.at(-1)?.id === slotId,
      left: Math.min(
        limit.count - inBucket.length,
        share === undefined ? Number.POSITIVE_INFINITY : share.limit.count - inShare.length,
      ),
      shareFull: share !== undefined && inShare.length >= share.limit.count,
      oldest: oldest(inBucket, "exp"),
      shareOldest: oldest(inShare, "texp"),
    };
  });
  const refused = counted.findIndex(({ took }) => !took);
  const row = counted[refused];
  if (row === undefined) {
    return { granted: true, remaining: counted.map(({ left }) => left) };
  }
  return row.shareFull
    ? { granted: false, refused, share: true, retryAt: row.shareOldest }
    : { granted: false, refused, retryAt: row.oldest };
}

const oldest = (slots: readonly RowSlot[], expiry: "exp" | "texp"): number =>
  Math.min(...slots.map((slot) => slot[expiry] ?? Number.POSITIVE_INFINITY));
