// The processes a benchmark run measures: the real service (src/main.ts, as `npm start` runs it),
// a bare @grpc/grpc-js server, and the PostgreSQL baseline server. Each is its own node process,
// so its CPU time and peak RSS can be read from /proc.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { processCpuSeconds } from "../support/proc-cpu.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The node that runs every benchmarked process (service and ceilings alike): BENCH_NODE, e.g.
 * `BENCH_NODE=$(bash .ci/node-24)`, or the one running the benchmark.
 */
export const BENCH_NODE = process.env.BENCH_NODE || process.execPath;

export interface BenchProcess {
  readonly port: number;
  /** The service's grpc-js door (GRPC_PORT), when it printed one. */
  readonly grpcPort?: number | undefined;
  readonly pid: number;
  /** CPU seconds (user + system) the process has used so far. */
  cpuSeconds(): number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRssBytes(): number;
  /** What the process has written to stdout so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `node --import tsx <script>` with `env` and waits for `listening` to match a line of its
 * stdout (group 1: the port). Stdout goes to a file, not a pipe, so that the service's JSON log
 * costs the service what it costs in production and costs the load generator nothing.
 */
export async function spawnBenchProcess(
  script: string,
  env: Record<string, string>,
  listening: RegExp,
  nodeArgs: readonly string[] = [],
): Promise<BenchProcess> {
  const dir = mkdtempSync(join(tmpdir(), "otp-bench-"));
  const outPath = join(dir, "stdout");
  const out = openSync(outPath, "w");
  const child: ChildProcess = spawn(BENCH_NODE, [...nodeArgs, "--import", "tsx", script], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", out, "inherit"],
  });
  closeSync(out);
  const pid = child.pid as number;
  let port: number | undefined;
  const deadline = Date.now() + 30_000;
  while (port === undefined) {
    if (child.exitCode !== null) {
      throw new Error(`${script} exited (${child.exitCode}): ${readFileSync(outPath, "utf8")}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${script} did not start within 30s`);
    }
    const match = listening.exec(readFileSync(outPath, "utf8"));
    port = match ? Number(match[1]) : undefined;
    await sleep(50);
  }
  const grpcPort = /grpc-js listening on \S+:(\d+)/.exec(readFileSync(outPath, "utf8"))?.[1];
  return {
    port,
    grpcPort: grpcPort === undefined ? undefined : Number(grpcPort),
    pid,
    cpuSeconds() {
      return processCpuSeconds(pid);
    },
    peakRssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    output() {
      return readFileSync(outPath, "utf8");
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The service, src/main.ts, on free loopback ports (its grpc-js door's too). */
export function startServiceProcess(
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<BenchProcess> {
  return spawnBenchProcess(
    "src/main.ts",
    { PORT: "0", GRPC_PORT: "0", HOST: "127.0.0.1", ...env },
    /otp-auth listening on 127\.0\.0\.1:(\d+)/,
    nodeArgs,
  );
}

/**
 * The codes the console sender (OTP_SENDER=console) of `service` printed so far, by email: what a
 * user learns from their inbox.
 */
export function printedCodes(service: BenchProcess): Map<string, string> {
  const codes = new Map<string, string>();
  for (const match of service.output().matchAll(/^otp: (\d+) for (\S+) \(/gm)) {
    codes.set(match[2] as string, match[1] as string);
  }
  return codes;
}

/** The ceiling for gRPC: a bare @grpc/grpc-js server whose health Check does nothing. */
export function startGrpcJsNoop(nodeArgs: readonly string[] = []): Promise<BenchProcess> {
  return spawnBenchProcess("test/bench/grpc-js-noop-server.ts", {}, /listening on (\d+)/, nodeArgs);
}

/**
 * The PostgreSQL ceiling: one single-statement query per call through the service's pool, on the
 * service's HTTP stack (`port`) and on a bare grpc-js server (`grpcPort`).
 */
export function startPgBaseline(
  databaseUrl: string,
  pooler: "none" | "transaction" = "none",
): Promise<BenchProcess> {
  return spawnBenchProcess(
    "test/bench/pg-baseline-server.ts",
    { DATABASE_URL: databaseUrl, DATABASE_POOLER: pooler },
    // The main port's line, printed after its grpc-js port's.
    /^listening on (\d+)/m,
  );
}

/**
 * The MySQL/MariaDB ceiling: one single-statement query per call through the service's pool and
 * query helper, on the service's HTTP stack (`port`) and on a bare grpc-js server (`grpcPort`).
 */
export function startMysqlBaseline(databaseUrl: string): Promise<BenchProcess> {
  return spawnBenchProcess(
    "test/bench/mysql-baseline-server.ts",
    { DATABASE_URL: databaseUrl },
    /^listening on (\d+)/m,
  );
}
