import type { OtpStore, SlotLimit, SlotsOutcome, SlotsRequest } from "../../domain/otp-store.js";
import { bucketsWithShares, sharesAsBuckets } from "../share-buckets.js";
import type { Query } from "./query.js";

/** A slot as a bucket's row holds it: `tag` and `texp` only when taken with a share. */
interface RowSlot {
  readonly id: string;
  readonly exp: number;
  readonly tag?: string;
  readonly texp?: number;
}

/**
 * Rolling-window limits (table otp_slots): a bucket is one row holding its live slots. A request
 * of one bucket (and its share) is the function otp_take_slot_row (migration 8), one statement on
 * that row, the share's slots tagged in it; a request of several buckets is the function
 * otp_take_slots (migrations 4 and 6) on their rows, each share a row of its own
 * (share-buckets.ts): one round trip, all or none, serialised on the buckets' rows either way.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlots" | "releaseSlots"> {
  const takeInRows = sharesAsBuckets(async ({ slotId, now, limits }): Promise<SlotsOutcome> => {
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
  });

  return {
    takeSlots(request) {
      const [only] = request.limits;
      return request.limits.length === 1 && only !== undefined
        ? takeInRow(query, request, only)
        : takeInRows(request);
    },

    // One bucket per statement (a failed delivery's path only): each holds one row lock at a
    // time, so it never deadlocks with otp_take_slots.
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
 * One bucket and its share, in one statement on the bucket's row (otp_take_slot_row, migration
 * 8): its upsert takes the row's lock, drops the slots dead to both limits and appends the slot,
 * tagged with the share's tag and expiry, only if the bucket's live slots and the share's (its
 * tag's) are each under their count. The row's slots come back, and the answer is read from them.
 * A slot of an older version has no tag: it counts for the bucket only.
 */
async function takeInRow(
  query: Query,
  { slotId, now }: SlotsRequest,
  { bucket, limit, share }: SlotLimit,
): Promise<SlotsOutcome> {
  const { rows } = await query<{ slots: RowSlot[] | null }>(
    "otp_take_slot_row",
    "SELECT otp_take_slot_row($1, $2, $3, $4, $5, $6, $7, $8) AS slots",
    [
      bucket,
      slotId,
      now,
      now + limit.windowMs,
      limit.count,
      share?.tag ?? null,
      share?.limit.count ?? null,
      share === undefined ? null : now + share.limit.windowMs,
    ],
  );
  const slots = rows[0]?.slots ?? [];
  const inBucket = slots.filter((slot) => slot.exp > now);
  const inShare =
    share === undefined
      ? []
      : slots.filter((slot) => slot.tag === share.tag && (slot.texp ?? 0) > now);
  if (slots.at(-1)?.id === slotId) {
    const left = limit.count - inBucket.length;
    return {
      granted: true,
      remaining: [share === undefined ? left : Math.min(left, share.limit.count - inShare.length)],
    };
  }
  if (share !== undefined && inShare.length >= share.limit.count) {
    return { granted: false, refused: 0, share: true, retryAt: oldest(inShare, "texp") };
  }
  return { granted: false, refused: 0, retryAt: oldest(inBucket, "exp") };
}

const oldest = (slots: readonly RowSlot[], expiry: "exp" | "texp"): number =>
  Math.min(...slots.map((slot) => slot[expiry] ?? Number.POSITIVE_INFINITY));
