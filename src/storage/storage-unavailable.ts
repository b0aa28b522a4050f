import { OtpError } from "../domain/errors.js";

/** Socket-level failures, whatever the database engine: it cannot be reached at all. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/**
 * Runs a database step, turning "unreachable" (as the engine's `isUnavailable` tells it) into the
 * domain's storage_unavailable refusal; any other error passes through as it is.
 */
export async function unavailableAsRefusal<T>(
  step: () => Promise<T>,
  isUnavailable: (error: unknown) => boolean,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (isUnavailable(error)) {
      throw new OtpError(
        { kind: "storage_unavailable" },
        "storage is unavailable; try again shortly",
        { cause: error },
      );
    }
    throw error;
  }
}
