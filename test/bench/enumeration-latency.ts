// Does RequestOtp take measurably longer for an email the service knows than for a new one?
// Starts the real service (src/main.ts, as `npm start` does) with the webhook sender pointed at a
// receiver in this process, makes BENCH_SAMPLES (3000) known emails known (a code requested and
// verified for each), then times RequestOtp for known and new emails one call at a time, in pairs
// whose order is a coin flip, and prints mean, p50 and p99 of each and their difference.
//
//   npm run bench:enumeration            (or: npx tsx test/bench/enumeration-latency.ts)
//   BENCH_SAMPLES=10000 npm run bench:enumeration
//
// Other variables (STORAGE, DATABASE_URL, …) pass through to the service.

import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";
import { percentile } from "./run-load.js";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 3000);
const WARM_UP = 300;
const SECRET = "bench-webhook-secret-of-at-least-32-characters";
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

async function main(): Promise<void> {
  const hook = await startWebhookReceiver({ secret: SECRET });
  const { child, port } = await startService({
    PORT: "0",
    GRPC_PORT: "off",
    HOST: "127.0.0.1",
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: hook.url,
    OTP_WEBHOOK_SECRET: SECRET,
    // Every call comes from 127.0.0.1; the per-email limit (3/1h) is left as it is: each known
    // email is asked for twice.
    OTP_IP_REQUEST_LIMIT: "off",
  });
  try {
    const client = createClient(
      AuthService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    );
    const known = (i: number) => `known-${i}@bench.example.com`;
    const fresh = (i: number) => `new-${i}@bench.example.com`;

    process.stdout.write(`making ${SAMPLES + WARM_UP} emails known… `);
    for (let i = 0; i < SAMPLES + WARM_UP; i++) {
      await client.requestOtp({ email: known(i) });
      const { json } = await hook.nextDelivery();
      await client.verifyOtp({ email: known(i), otp: json.code });
    }
    process.stdout.write("done\n");

    const time = async (email: string) => {
      const start = performance.now();
      await client.requestOtp({ email });
      return performance.now() - start;
    };
    const knownMs: number[] = [];
    const freshMs: number[] = [];
    for (let i = 0; i < SAMPLES + WARM_UP; i++) {
      // Which goes first is a coin flip, so that neither side systematically follows the other.
      const knownFirst = randomInt(2) === 0;
      const a = await time(knownFirst ? known(i) : fresh(i));
      const b = await time(knownFirst ? fresh(i) : known(i));
      if (i >= WARM_UP) {
        knownMs.push(knownFirst ? a : b);
        freshMs.push(knownFirst ? b : a);
      }
    }
    const unverified = hook.received.filter((request) => !request.verified).length;
    report(knownMs, freshMs, unverified);
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
    await hook.close();
  }
}

/** Spawns src/main.ts and resolves once it prints the port it listens on. */
async function startService(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /otp-auth listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`the service exited (${code}): ${out}`)));
  });
  return { child, port };
}

function report(knownMs: number[], freshMs: number[], unverified: number): void {
  const k = stats(knownMs);
  const f = stats(freshMs);
  const diff = k.mean - f.mean;
  // Welch's standard error of the difference of the means.
  const se = Math.sqrt(k.variance / knownMs.length + f.variance / freshMs.length);
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  console.log(
    `RequestOtp latency, ${knownMs.length} calls each, after ${WARM_UP} pairs of warm-up`,
  );
  console.log(`            mean        p50         p99`);
  console.log(`  known   ${ms(k.mean)}  ${ms(k.p50)}  ${ms(k.p99)}`);
  console.log(`  new     ${ms(f.mean)}  ${ms(f.p50)}  ${ms(f.p99)}`);
  console.log(
    `  known - new: mean ${ms(diff)} (95% CI ${ms(diff - 1.96 * se)} to ${ms(diff + 1.96 * se)}), p50 ${ms(k.p50 - f.p50)}, p99 ${ms(k.p99 - f.p99)}`,
  );
  console.log(`  webhook deliveries that failed signature verification: ${unverified}`);
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  const variance = samples.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (samples.length - 1);
  return { mean, variance, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
