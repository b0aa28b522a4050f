import { loadConfig } from "./config/load-config.js";
import { ConfigError } from "./config/parse-values.js";
import { startApp } from "./server/app.js";

/** How long requests in flight may take to finish after SIGTERM or SIGINT. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`otp-auth: cannot start: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const app = await startApp(config);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`otp-auth: ${signal} received, shutting down`);
    app.close(SHUTDOWN_GRACE_MS).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error("otp-auth: shutdown failed:", error);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Only now: a supervisor may signal as soon as it reads this line.
  console.log(
    `otp-auth listening on ${config.host}:${app.port} (gRPC, gRPC-Web and Connect; storage ${config.storage})`,
  );
}

main().catch((error: unknown) => {
  console.error("otp-auth: cannot start:", error);
  process.exit(1);
});
