import pino from "pino";
import { batchedStdout } from "./batched-stdout.js";
import { maskEmailsDeep, maskEmailsIn } from "./mask-email.js";

/** The service's logger: pino's, as createLogger configures it. */
export type Logger = pino.Logger;
/** The levels a logger can be set to, most severe first; `silent` writes none (LOG_LEVEL). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** The least severe entries a logger writes; `silent` writes none. */
export type LogLevel = (typeof LOG_LEVELS)[number] & pino.LevelWithSilent;

/**
 * A JSON logger (pino): one line per entry with `level` as a name, `time` in ISO 8601, `pid`,
 * `hostname`, `name: "otp-auth"` and `msg`; entries about a call carry its `requestId`, which
 * their callers take from the call's context values (callOf). Email addresses anywhere in an
 * entry (error messages included) are masked. Writes to `destination`, by default stdout through
 * `batchedStdout`: whole entries, written synchronously once per event-loop turn (see there).
 */
export function createLogger(
  options: { level?: LogLevel; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      name: "otp-auth",
      level: options.level ?? "info",
      timestamp: isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (entry) => maskEmailsDeep(entry) as Record<string, unknown>,
      },
      serializers: {
        // Spread: the serialized error's prototype is pino's, which maskEmailsDeep leaves alone.
        err: (error: Error) => maskEmailsDeep({ ...pino.stdSerializers.err(error) }),
      },
      hooks: {
        // Messages are not entries' fields, so the log formatter does not see them.
        logMethod(args, method) {
          const masked = args.map((arg) => (typeof arg === "string" ? maskEmailsIn(arg) : arg));
          return method.apply(this, masked as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? batchedStdout(),
  );
}

let timeMs = Number.NaN;
let timeField = "";

/** pino's isoTime, made once per millisecond: entries logged within one share the string. */
function isoTime(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeField;
}
