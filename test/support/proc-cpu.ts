import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) process `pid` has used, from /proc/<pid>/stat; with `exited`, also
 * those of its children that exited and were waited for. 0 if the process is gone. Counted in
 * clock ticks (10 ms): over a short window, many lightly loaded processes read coarsely.
 */
export function processCpuSeconds(pid: number, options: { exited?: boolean } = {}): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // Fields after the ")" that ends the command name: utime, stime, cutime and cstime are the
  // 12th to 15th of them (the 14th to 17th of the line).
  const fields = stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
  const own = (fields[11] ?? 0) + (fields[12] ?? 0);
  const exited = options.exited ? (fields[13] ?? 0) + (fields[14] ?? 0) : 0;
  return (own + exited) / CLOCK_TICKS_PER_SECOND;
}
