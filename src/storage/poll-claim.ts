import { setTimeout as sleep } from "node:timers/promises";
import type { IdempotencyOutcome } from "../domain/otp-store.js";
import { unlessAborted } from "./unless-aborted.js";

const CLAIM_POLL_FIRST_MS = 10;
const CLAIM_POLL_MAX_MS = 200;

/**
 * Tries to claim an idempotency key until `tryClaim` decides (claimed, replay or mismatch; it
 * answers undefined while another request holds the key), waiting 10 ms and then up to 200 ms
 * between tries, while the caller still waits: when `signal` aborts, rejects with its reason.
 */
export async function pollClaim(
  tryClaim: () => Promise<IdempotencyOutcome | undefined>,
  signal: AbortSignal | undefined,
): Promise<IdempotencyOutcome> {
  for (let wait = CLAIM_POLL_FIRST_MS; ; wait = Math.min(wait * 2, CLAIM_POLL_MAX_MS)) {
    const outcome = await tryClaim();
    if (outcome !== undefined) {
      return outcome;
    }
    await unlessAborted(sleep(wait), signal);
  }
}
