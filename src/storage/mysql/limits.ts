import type { OtpStore, SlotsOutcome } from "../../domain/otp-store.js";
import { bucketsWithShares, sharesAsBuckets } from "../share-buckets.js";
import type { Query } from "./query.js";

/**
 * Rolling-window limits (tables otp_buckets, otp_slots), a share kept as a bucket of its own
 * (share-buckets.ts): a slot is a row of otp_slots, and a
 * bucket's row in otp_buckets is the lock its takers queue on. One batch in one round trip takes a
 * slot in several buckets, all or none: an upsert locks each bucket's row (in one order, by name,
 * so that takers of overlapping buckets wait rather than deadlock), its dead slots go and its live
 * ones are counted under that lock; the slot is inserted into every bucket only if none is full.
 */
export function createLimitSteps(query: Query): Pick<OtpStore, "takeSlots" | "releaseSlots"> {
  return {
    takeSlots: sharesAsBuckets(async ({ slotId, now, limits }): Promise<SlotsOutcome> => {
      const params: Record<string, string | number> = { slotId, now };
      const order = limits
        .map((entry, i) => ({ ...entry, i }))
        .sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
      const steps: string[] = [];
      for (const { bucket, limit, i } of order) {
        Object.assign(params, {
          [`bucket${i}`]: bucket,
          [`count${i}`]: limit.count,
          [`expires${i}`]: now + limit.windowMs,
        });
        steps.push(`INSERT INTO otp_buckets (bucket, expires_at) VALUES (:bucket${i}, :expires${i})
           ON DUPLICATE KEY UPDATE expires_at = GREATEST(expires_at, :expires${i});
           DELETE FROM otp_slots WHERE bucket = :bucket${i} AND expires_at <= :now;
           SET @otp_live${i} = (SELECT COUNT(*) FROM otp_slots WHERE bucket = :bucket${i}),
               @otp_oldest${i} = (SELECT MIN(expires_at) FROM otp_slots WHERE bucket = :bucket${i});`);
      }
      const indexes = limits.map((_, i) => i);
      const open = indexes.map((i) => `@otp_live${i} < :count${i}`).join(" AND ");
      const inserts = indexes.map(
        (i) => `INSERT INTO otp_slots (bucket, slot_id, expires_at)
           SELECT :bucket${i}, :slotId, :expires${i} FROM DUAL WHERE @otp_open;`,
      );
      const answers = indexes.map(
        (i) => `@otp_live${i} AS live${i}, @otp_oldest${i} AS oldest${i}`,
      );
      const rows = (
        await query(
          `START TRANSACTION;
           ${steps.join("\n")}
           SET @otp_open = ${open};
           ${inserts.join("\n")}
           SELECT @otp_open AS open, ${answers.join(", ")};
           COMMIT`,
          params,
        )
      ).rows<Record<string, number | null>>();
      const row = rows[0] ?? {};
      const live = indexes.map((i) => Number(row[`live${i}`] ?? 0));
      if (row.open === 1) {
        return {
          granted: true,
          remaining: limits.map(({ limit }, i) => limit.count - (live[i] ?? 0) - 1),
        };
      }
      const refused = limits.findIndex(({ limit }, i) => (live[i] ?? 0) >= limit.count);
      return {
        granted: false,
        refused,
        retryAt: Number(row[`oldest${refused}`] ?? now + (limits[refused]?.limit.windowMs ?? 0)),
      };
    }),

    async releaseSlots(limits, slotId) {
      const buckets = bucketsWithShares(limits);
      if (buckets.length === 0) {
        return;
      }
      const params: Record<string, string> = { slotId };
      const names = buckets.map((bucket, i) => {
        params[`bucket${i}`] = bucket;
        return `:bucket${i}`;
      });
      await query(
        `DELETE FROM otp_slots WHERE slot_id = :slotId AND bucket IN (${names.join(", ")})`,
        params,
      );
    },
  };
}
