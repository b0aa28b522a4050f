/**
 * Resolves or rejects as `wait` does, unless `signal` aborts first: then rejects at once with the
 * signal's reason (the caller's deadline or disconnect). Used where a store waits for someone else.
 */
export async function unlessAborted<T>(
  wait: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal === undefined) {
    return wait;
  }
  signal.throwIfAborted();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([wait, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
