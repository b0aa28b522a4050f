import {
  type SlotLimit,
  type SlotsOutcome,
  type SlotsRequest,
  shareBucket,
} from "../domain/otp-store.js";

/** A bucket of the flat list: `limits[entry]`'s bucket, or its share when `isShare`. */
interface FlatLimit extends SlotLimit {
  readonly entry: number;
  readonly isShare: boolean;
}

/** `limits` with each share as a bucket of its own (shareBucket), just before its bucket. */
function flatten(limits: readonly SlotLimit[]): FlatLimit[] {
  return limits.flatMap(({ bucket, limit, share }, entry) => [
    ...(share === undefined
      ? []
      : [{ bucket: shareBucket(bucket, share.tag), limit: share.limit, entry, isShare: true }]),
    { bucket, limit, entry, isShare: false },
  ]);
}

/**
 * takeSlots for a store that keeps each share as a bucket of its own: `take` is handed the
 * buckets without shares, a share's just before its own (so a share refuses first), and its
 * answer is told back in terms of `limits`.
 */
export function sharesAsBuckets(
  take: (request: SlotsRequest) => Promise<SlotsOutcome>,
): (request: SlotsRequest) => Promise<SlotsOutcome> {
  return async (request) => {
    const flat = flatten(request.limits);
    const outcome = await take({ ...request, limits: flat });
    if (!outcome.granted) {
      const { entry, isShare } = flat[outcome.refused] as FlatLimit;
      return {
        granted: false,
        refused: entry,
        ...(isShare && { share: true }),
        retryAt: outcome.retryAt,
      };
    }
    const remaining = request.limits.map(() => Number.POSITIVE_INFINITY);
    flat.forEach(({ entry }, i) => {
      remaining[entry] = Math.min(remaining[entry] as number, outcome.remaining[i] as number);
    });
    return { granted: true, remaining };
  };
}

/** Every bucket `limits` names, their shares' included, for releaseSlots. */
export const bucketsWithShares = (limits: readonly SlotLimit[]): string[] =>
  flatten(limits).map(({ bucket }) => bucket);
