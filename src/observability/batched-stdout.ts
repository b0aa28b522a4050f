import pino from "pino";

/**
 * A log destination writing to file descriptor `fd` (stdout) once per event-loop turn: entries
 * written during a turn are joined and go out in one synchronous write when the turn's I/O is
 * done (setImmediate), and whatever is pending when the process exits is written then. Under
 * load a turn serves many calls, and one write syscall per call line was the largest cost of the
 * grpc-js door that was the service's own (docs/benchmarks.md); at rest each line still goes out
 * within the turn that logged it.
 *
 * Writes stay synchronous (pino's SonicBoom with `sync: true`, which retries a busy pipe), so
 * entries are whole and never interleave with other stdout lines, and exiting (process.exit, an
 * uncaught exception, a signal that the service handles) loses nothing; only a process killed
 * outright (SIGKILL) can lose the entries of its last turn.
 */
export function batchedStdout(fd = 1): pino.DestinationStream {
  let destination = destinations.get(fd);
  if (destination === undefined) {
    destination = createBatched(fd);
    destinations.set(fd, destination);
  }
  return destination;
}

// One per file descriptor, however many loggers write to it, so that their entries stay in order.
const destinations = new Map<number, pino.DestinationStream>();

function createBatched(fd: number): pino.DestinationStream {
  const out = pino.destination({ dest: fd, sync: true });
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length > 0) {
      const lines = pending.length === 1 ? (pending[0] as string) : pending.join("");
      pending = [];
      out.write(lines);
    }
  };
  process.on("exit", flush);
  return {
    write(line: string) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
