// The closed-loop load driver: `concurrency` workers, each with one call in flight at a time.

import { performance } from "node:perf_hooks";

export interface LoadOptions {
  readonly concurrency: number;
  /** Calls before this are not measured (JIT, connection set-up). */
  readonly warmUpMs: number;
  /** How long the measured window lasts at most. */
  readonly durationMs: number;
  /** Starts the next call, or returns null when there is nothing left to call (ends the run). */
  readonly next: () => Promise<unknown> | null;
  /** Called when the measured window opens (to sample the server's CPU time). */
  readonly onMeasureStart?: () => void;
}

export interface LoadResult {
  /** Calls completed (successfully or not) that started inside the measured window. */
  readonly calls: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Every measured call's latency in ms, ascending. */
  readonly latencies: readonly number[];
}

/** The `q` quantile (0…1) of ascending `sorted`, 0 when it is empty. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** Runs the load and returns throughput and latency of the measured window. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + options.warmUpMs;
  const stopAt = measureFrom + options.durationMs;
  let opened = false;
  let lastEnd = measureFrom;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;

  const worker = async () => {
    for (;;) {
      const begin = performance.now();
      if (begin >= stopAt) {
        return;
      }
      if (begin >= measureFrom && !opened) {
        opened = true;
        options.onMeasureStart?.();
      }
      const pending = options.next();
      if (pending === null) {
        return;
      }
      let failed = false;
      try {
        await pending;
      } catch (error) {
        failed = true;
        firstError ??= (error as Error).message;
      }
      const end = performance.now();
      if (begin >= measureFrom) {
        latencies.push(end - begin);
        errors += failed ? 1 : 0;
        lastEnd = Math.max(lastEnd, end);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (lastEnd - measureFrom) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    calls: latencies.length,
    errors,
    firstError,
    seconds,
    perSecond: seconds > 0 ? latencies.length / seconds : 0,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    latencies,
  };
}
