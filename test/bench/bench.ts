// Throughput, latency, server CPU and peak RSS of the service, against ceilings measured in the
// same run on the same machine (README "Benchmarks"). Every server is its own process, started
// fresh for each scenario; the load comes from this process (see load-clients.ts for why a Node
// generator), which reports its own CPU so that a saturated generator shows.
//
//   npm run bench
//   BENCH_SECONDS=20 BENCH_CONCURRENCY=128 npm run bench     longer runs, other load
//   BENCH_SWEEP=0 npm run bench                              skip the concurrency sweep
//   BENCH_POSTGRES=0 npm run bench                           in-memory scenarios only

import { writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  GetStatusRequestSchema,
  RequestOtpRequestSchema,
  RequestOtpResponseSchema,
  VerifyOtpRequestSchema,
  VerifyOtpResponseSchema,
} from "../../gen/auth/v1/auth_pb.js";
import { createDatabase, startPostgresServer } from "../support/postgres-server.js";
import {
  type BenchProcess,
  startGrpcJsNoop,
  startPgBaseline,
  startServiceProcess,
} from "./bench-processes.js";
import { startCodeReceiver } from "./code-receiver.js";
import { createConnectCaller, createGrpcCaller } from "./load-clients.js";
import { type LoadResult, runLoad } from "./run-load.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARM_UP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SWEEP = process.env.BENCH_SWEEP !== "0";
const SWEEP_LEVELS = [1, 4, 16, 64, 256];
const WITH_POSTGRES = process.env.BENCH_POSTGRES !== "0";
const HMAC_KEY = "bench-hmac-key-of-at-least-32-characters!";
const resultsFile = fileURLToPath(new URL("results/bench-results.md", import.meta.url));

type Transport = "grpc" | "connect";
type Store = "memory" | "postgres";
type Scenario = "no-op" | "GetStatus" | "RequestOtp" | "VerifyOtp";
type Stack = "service" | "grpc-js" | "pg-baseline";

interface Row extends LoadResult {
  readonly scenario: Scenario;
  readonly stack: Stack;
  readonly transport: Transport;
  readonly store: Store;
  readonly concurrency: number;
  readonly note: string;
  readonly serverCpuCores: number;
  readonly generatorCpuCores: number;
  readonly peakRssMb: number;
}

const PATHS = {
  noop: "/grpc.health.v1.Health/Check",
  getStatus: "/auth.v1.AuthService/GetStatus",
  requestOtp: "/auth.v1.AuthService/RequestOtp",
  verifyOtp: "/auth.v1.AuthService/VerifyOtp",
};

/** The three RPCs (and the no-op) over one transport, with plain inputs and outputs. */
function rpcs(transport: Transport, port: number, concurrency: number) {
  if (transport === "grpc") {
    const { call, close } = createGrpcCaller(port, Math.ceil(concurrency / 64));
    return {
      close,
      noop: () => call(PATHS.noop, new Uint8Array(0)),
      getStatus: (email: string) =>
        call(
          PATHS.getStatus,
          toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema, { email })),
        ),
      requestOtp: async (email: string) =>
        fromBinary(
          RequestOtpResponseSchema,
          await call(
            PATHS.requestOtp,
            toBinary(RequestOtpRequestSchema, create(RequestOtpRequestSchema, { email })),
          ),
        ).otpId,
      verifyOtp: async (email: string, otp: string) =>
        fromBinary(
          VerifyOtpResponseSchema,
          await call(
            PATHS.verifyOtp,
            toBinary(VerifyOtpRequestSchema, create(VerifyOtpRequestSchema, { email, otp })),
          ),
        ).authenticated,
    };
  }
  const { call, close } = createConnectCaller(port, concurrency);
  return {
    close,
    noop: () => call(PATHS.noop, {}),
    getStatus: (email: string) => call(PATHS.getStatus, { email }),
    requestOtp: async (email: string) => (await call(PATHS.requestOtp, { email })).otpId as string,
    verifyOtp: async (email: string, otp: string) =>
      (await call(PATHS.verifyOtp, { email, otp })).authenticated === true,
  };
}

let emailSerial = 0;
const nextEmail = (prefix: string) => `${prefix}-${emailSerial++}@bench.example.com`;

/** Runs one load against `server`, sampling its CPU over the measured window only. */
async function measure(
  server: BenchProcess,
  next: () => Promise<unknown> | null,
  options: { concurrency: number; seconds: number; warmUpSeconds: number },
) {
  let cpuAtStart = server.cpuSeconds();
  let generatorAtStart = process.cpuUsage();
  const result = await runLoad({
    concurrency: options.concurrency,
    warmUpMs: options.warmUpSeconds * 1000,
    durationMs: options.seconds * 1000,
    next,
    onMeasureStart() {
      cpuAtStart = server.cpuSeconds();
      generatorAtStart = process.cpuUsage();
    },
  });
  const generator = process.cpuUsage(generatorAtStart);
  return {
    ...result,
    serverCpuCores: (server.cpuSeconds() - cpuAtStart) / result.seconds,
    generatorCpuCores: (generator.user + generator.system) / 1e6 / result.seconds,
    peakRssMb: server.peakRssBytes() / 2 ** 20,
  };
}

interface Target {
  readonly transport: Transport;
  readonly store: Store;
  readonly concurrency?: number;
  readonly seconds?: number;
  readonly warmUpSeconds?: number;
}

const rows: Row[] = [];
const sweep: Row[] = [];

function record(
  target: Target,
  scenario: Scenario,
  stack: Stack,
  note: string,
  m: Awaited<ReturnType<typeof measure>>,
  into = rows,
) {
  const row: Row = {
    ...m,
    scenario,
    stack,
    transport: target.transport,
    store: target.store,
    concurrency: target.concurrency ?? CONCURRENCY,
    note,
  };
  into.push(row);
  process.stderr.write(
    `  ${stack} ${scenario} ${target.transport} ${target.store} c=${row.concurrency}: ${row.perSecond.toFixed(0)}/s p50 ${row.p50Ms.toFixed(2)} ms p99 ${row.p99Ms.toFixed(2)} ms, server ${row.serverCpuCores.toFixed(2)} cores, generator ${row.generatorCpuCores.toFixed(2)} cores${row.errors ? `, ${row.errors} errors (${row.firstError})` : ""}\n`,
  );
  return row;
}

function optionsOf(target: Target) {
  return {
    concurrency: target.concurrency ?? CONCURRENCY,
    seconds: target.seconds ?? SECONDS,
    warmUpSeconds: target.warmUpSeconds ?? WARM_UP_SECONDS,
  };
}

/** Scenarios on a fresh service process each: no-op, GetStatus, RequestOtp (discard sender). */
async function simpleScenario(
  target: Target,
  scenario: "no-op" | "GetStatus" | "RequestOtp",
  serviceEnv: Record<string, string>,
  into = rows,
) {
  const server = await startServiceProcess({ ...serviceEnv, OTP_SENDER: "discard" });
  const options = optionsOf(target);
  const client = rpcs(target.transport, server.port, options.concurrency);
  try {
    const next =
      scenario === "no-op"
        ? client.noop
        : scenario === "GetStatus"
          ? () => client.getStatus(nextEmail("s"))
          : () => client.requestOtp(nextEmail("r"));
    const note =
      scenario === "no-op"
        ? "health Check"
        : scenario === "GetStatus"
          ? "distinct unknown emails"
          : "distinct emails, discard sender";
    return record(target, scenario, "service", note, await measure(server, next, options), into);
  } finally {
    client.close();
    await server.stop();
  }
}

/**
 * The login flow: RequestOtp with the webhook sender delivering to this process, for the measured
 * time (each code kept with its email), then VerifyOtp of every code so learnt, as fast as it goes.
 */
async function loginScenario(target: Target, serviceEnv: Record<string, string>) {
  const receiver = await startCodeReceiver();
  const server = await startServiceProcess({
    ...serviceEnv,
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: receiver.url,
    OTP_WEBHOOK_SECRET: "bench-webhook-secret-of-at-least-32-characters",
  });
  const options = optionsOf(target);
  const client = rpcs(target.transport, server.port, options.concurrency);
  try {
    const issued: { email: string; code: string }[] = [];
    const request = async () => {
      const email = nextEmail("l");
      const otpId = await client.requestOtp(email);
      const code = receiver.take(otpId);
      if (code === undefined) {
        throw new Error(`no code delivered for ${otpId}`);
      }
      issued.push({ email, code });
    };
    record(
      target,
      "RequestOtp",
      "service",
      "login step 1: webhook sender",
      await measure(server, request, options),
    );
    let taken = 0;
    const verify = () => {
      const next = issued[taken++];
      if (next === undefined) {
        return null;
      }
      return client.verifyOtp(next.email, next.code).then((authenticated) => {
        if (!authenticated) {
          throw new Error("VerifyOtp answered authenticated=false");
        }
      });
    };
    // Verifying stops when the codes run out; warm-up takes a tenth of them.
    record(
      target,
      "VerifyOtp",
      "service",
      `login step 2: ${issued.length} codes from step 1`,
      await measure(server, verify, {
        ...options,
        seconds: 10 * options.seconds,
        warmUpSeconds: 0.1 * options.seconds,
      }),
    );
  } finally {
    client.close();
    await server.stop();
    await receiver.close();
  }
}

async function ceilingScenario(
  target: Target,
  stack: "grpc-js" | "pg-baseline",
  start: () => Promise<BenchProcess>,
  into = rows,
) {
  const server = await start();
  const options = optionsOf(target);
  const client = rpcs(target.transport, server.port, options.concurrency);
  try {
    const note =
      stack === "grpc-js"
        ? "bare @grpc/grpc-js, no-op handler"
        : "1 statement through the service's pool";
    return record(target, "no-op", stack, note, await measure(server, client.noop, options), into);
  } finally {
    client.close();
    await server.stop();
  }
}

const SERVICE_ENV = {
  OTP_IP_REQUEST_LIMIT: "off",
  OTP_REQUEST_LIMIT: "1000/1h",
};

async function main() {
  const started = new Date();
  process.stderr.write(
    `otp-auth benchmark: ${SECONDS}s per scenario after ${WARM_UP_SECONDS}s warm-up, ${CONCURRENCY} in flight\n`,
  );
  for (const transport of ["grpc", "connect"] as const) {
    const memory: Target = { transport, store: "memory" };
    await simpleScenario(memory, "no-op", SERVICE_ENV);
    if (transport === "grpc") {
      await ceilingScenario(memory, "grpc-js", startGrpcJsNoop);
    }
    await simpleScenario(memory, "GetStatus", SERVICE_ENV);
    await simpleScenario(memory, "RequestOtp", SERVICE_ENV);
    await loginScenario(memory, SERVICE_ENV);
  }
  if (WITH_POSTGRES) {
    const pgServer = await startPostgresServer();
    try {
      for (const transport of ["grpc", "connect"] as const) {
        const target: Target = { transport, store: "postgres" };
        const database = async () => ({
          ...SERVICE_ENV,
          STORAGE: "postgres",
          DATABASE_URL: await createDatabase(pgServer.url),
          OTP_HMAC_KEY: HMAC_KEY,
        });
        await ceilingScenario(target, "pg-baseline", async () =>
          startPgBaseline(await createDatabase(pgServer.url)),
        );
        await simpleScenario(target, "GetStatus", await database());
        await simpleScenario(target, "RequestOtp", await database());
        await loginScenario(target, await database());
      }
    } finally {
      await pgServer.destroy();
    }
  }
  if (SWEEP) {
    process.stderr.write("throughput against concurrency\n");
    for (const concurrency of SWEEP_LEVELS) {
      for (const transport of ["grpc", "connect"] as const) {
        const target: Target = {
          transport,
          store: "memory",
          concurrency,
          seconds: 2,
          warmUpSeconds: 0.5,
        };
        await simpleScenario(target, "no-op", SERVICE_ENV, sweep);
        await simpleScenario(target, "GetStatus", SERVICE_ENV, sweep);
        if (transport === "grpc") {
          await ceilingScenario(target, "grpc-js", startGrpcJsNoop, sweep);
        }
      }
    }
  }
  const report = render(started);
  process.stdout.write(report);
  writeFileSync(resultsFile, report);
  process.stderr.write(`written to ${resultsFile}\n`);
}

function render(started: Date): string {
  const ceiling = (transport: Transport, stack: Stack) =>
    rows.find((r) => r.transport === transport && r.stack === stack && r.scenario === "no-op")
      ?.perSecond;
  const ratio = (value: number, of: number | undefined) => (of ? (value / of).toFixed(2) : "");
  const lines = [
    "# otp-auth benchmark results",
    "",
    `${started.toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? "?"} · Linux ${release()} · Node ${process.version}`,
    "",
    `\`npm run bench\` (BENCH_SECONDS=${SECONDS}, BENCH_WARMUP_SECONDS=${WARM_UP_SECONDS}, BENCH_CONCURRENCY=${CONCURRENCY}): each server a fresh process; load from the bench process (gRPC: raw node:http2, Connect JSON: node:http keep-alive over HTTP/1.1).`,
    "Ratios: to the same-stack no-op (the service's health Check, same transport), to the bare @grpc/grpc-js no-op (gRPC only), and for PostgreSQL to one statement through the same pool on the same stack.",
    "",
    "| scenario | transport | store | calls/s | p50 ms | p99 ms | server CPU (cores) | server peak RSS MB | ÷ same-stack no-op | ÷ grpc-js no-op | ÷ PG 1-statement | generator CPU | errors | note |",
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
  ];
  for (const r of rows) {
    const name = r.stack === "service" ? r.scenario : `${r.stack} ${r.scenario}`;
    lines.push(
      `| ${name} | ${r.transport} | ${r.stack === "grpc-js" ? "—" : r.store} | ${r.perSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.serverCpuCores.toFixed(2)} | ${r.peakRssMb.toFixed(0)} | ${ratio(r.perSecond, ceiling(r.transport, "service"))} | ${r.transport === "grpc" ? ratio(r.perSecond, ceiling("grpc", "grpc-js")) : ""} | ${r.store === "postgres" ? ratio(r.perSecond, ceiling(r.transport, "pg-baseline")) : ""} | ${r.generatorCpuCores.toFixed(2)} | ${r.errors} | ${r.note} |`,
    );
  }
  if (sweep.length > 0) {
    const series = [
      ...new Set(
        sweep.map(
          (r) => `${r.stack === "service" ? "service" : r.stack} ${r.scenario} ${r.transport}`,
        ),
      ),
    ];
    lines.push("", "Throughput (calls/s) against calls in flight, in-memory store:", "");
    lines.push(
      `| in flight | ${series.join(" | ")} |`,
      `|--:|${series.map(() => "--:").join("|")}|`,
    );
    for (const level of SWEEP_LEVELS) {
      const cells = series.map((name) => {
        const r = sweep.find(
          (s) =>
            s.concurrency === level &&
            `${s.stack === "service" ? "service" : s.stack} ${s.scenario} ${s.transport}` === name,
        );
        return r ? `${r.perSecond.toFixed(0)} (p99 ${r.p99Ms.toFixed(1)} ms)` : "";
      });
      lines.push(`| ${level} | ${cells.join(" | ")} |`);
    }
  }
  return `${lines.join("\n")}\n`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
