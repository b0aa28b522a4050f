import { constants } from "node:os";
import { loadConfig } from "./config/load-config.js";
import { ConfigError } from "./config/parse-values.js";
import { createLogger } from "./observability/logger.js";
import { type App, startApp } from "./server/app.js";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      // Plain text on stderr: logging is not configured yet, and LOG_LEVEL may be what is wrong.
      process.stderr.write(`otp-auth: cannot start: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  let app: App;
  try {
    app = await startApp(config, { logger });
  } catch (error) {
    if (error instanceof ConfigError) {
      // A file a variable names is unusable (TLS_CERT_FILE, say): said as for any bad variable.
      process.stderr.write(`otp-auth: cannot start: ${error.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: error }, "cannot start");
    process.exit(1);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // An operator who signals again does not want to wait for the drain: exit now, with the
      // status a shell reports for death by that signal (143 for SIGTERM, 130 for SIGINT).
      logger.warn({ signal }, "stopping now, without waiting for requests in flight");
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    // close() stops accepting connections before it first waits, so once this line is out, new
    // connections are already refused.
    const closing = app.close(config.shutdownGraceMs);
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
    closing.then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // A renewed certificate is picked up without a restart; a bad one leaves the old one in use.
  process.on("SIGHUP", () => {
    if (config.tls === null) {
      return;
    }
    try {
      app.reloadTls();
      logger.info("reloaded TLS certificate");
    } catch (error) {
      logger.error({ err: error }, "TLS certificate not reloaded; still serving the previous one");
    }
  });
  logger.info(
    {
      host: config.host,
      port: app.port,
      grpcPort: app.grpcPort,
      storage: config.storage,
      tls: config.tls !== null,
    },
    "listening",
  );
  if (app.grpcPort !== null) {
    process.stdout.write(
      `otp-auth grpc-js listening on ${config.host}:${app.grpcPort} (gRPC only)\n`,
    );
  }
  // Only now: a supervisor may signal as soon as it reads this line. It stays plain text, for
  // people and scripts reading `npm start`, besides the log entry above for collectors.
  process.stdout.write(
    `otp-auth listening on ${config.host}:${app.port} (gRPC, gRPC-Web and Connect${config.tls === null ? "" : " over TLS"}; storage ${config.storage})\n`,
  );
}

main().catch((error: unknown) => {
  // Only reached if something fails before logging is set up.
  process.stderr.write(
    `otp-auth: cannot start: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
