// Throughput, latency, server CPU and peak RSS of the service, against ceilings measured in the
// same run on the same machine (docs/benchmarks.md). Every server is its own process; the load
// comes from this process (see load-clients.ts for why a Node generator), which reports its own
// CPU so that a saturated generator shows.
//
// A scenario and its ceilings are measured interleaved: a few rounds in which each of them gets
// the same load for the same time, one after the other, in an order that rotates. A ratio then
// compares calls made minutes apart on a machine whose speed drifts (other tenants, CPU boost)
// no more than a few seconds apart, and the no-op runs in the very process that serves the
// scenario, with its heap and JIT state.
//
//   npm run bench
//   BENCH_ROUNDS=8 BENCH_SECONDS=3 BENCH_CONCURRENCY=128 npm run bench    longer runs, other load
//   BENCH_SWEEP=0 npm run bench                                           skip the concurrency sweep
//   BENCH_POSTGRES=0 npm run bench                                        in-memory scenarios only
//   BENCH_MEMORY=0 npm run bench                                          database scenarios only
//   BENCH_MYSQL=0 npm run bench                                           no MySQL (MariaDB) scenarios
//                          (named and unnamed statements, and unnamed through PgBouncer)
//   BENCH_RESULTS=results/pooler-results.md npm run bench                  write results elsewhere
//   BENCH_TRANSPORTS=grpc,grpc-port npm run bench                         some transports only
//                          (grpc, grpc-port, connect, rest; the default leaves rest out)
//   BENCH_NODE=$(bash .ci/node-24) npm run bench                          the servers on Node 24

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createMysqlDatabase, findMariadb, startMariadbServer } from "../support/mariadb-server.js";
import { startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase, startPostgresServer } from "../support/postgres-server.js";
import {
  BENCH_NODE,
  type BenchProcess,
  printedCodes,
  startGrpcJsNoop,
  startMysqlBaseline,
  startPgBaseline,
  startServiceProcess,
} from "./bench-processes.js";
import { rpcs, type Transport, transportsOf } from "./rpcs.js";
import { percentile, runLoad } from "./run-load.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const WARM_UP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SWEEP = process.env.BENCH_SWEEP !== "0";
const SWEEP_LEVELS = [1, 4, 16, 64, 256];
const WITH_POSTGRES = process.env.BENCH_POSTGRES !== "0";
const WITH_MEMORY = process.env.BENCH_MEMORY !== "0";
// MariaDB comes from Debian (mariadb-server), not npm: without it its scenarios are left out, and
// the run says so.
const WITH_MYSQL = process.env.BENCH_MYSQL !== "0";
const TRANSPORTS = transportsOf(
  process.env.BENCH_TRANSPORTS ?? "grpc,grpc-port,connect,rest",
  "BENCH_TRANSPORTS",
);
/** The node the servers run on (BENCH_NODE), which names the results file. */
const SERVER_NODE = execFileSync(BENCH_NODE, ["--version"], { encoding: "utf8" }).trim();
const HMAC_KEY = "bench-hmac-key-of-at-least-32-characters!";
// Each round opens with this much unmeasured load, so that a switch of scenario settles first.
const ROUND_RAMP_MS = 200;
const resultsFile = fileURLToPath(
  new URL(
    process.env.BENCH_RESULTS ??
      `results/bench-results-node${SERVER_NODE.slice(1).split(".")[0]}.md`,
    import.meta.url,
  ),
);

type Store =
  | "memory"
  | "postgres"
  | "postgres, unnamed"
  | "postgres via PgBouncer"
  | "mysql (MariaDB)";
type Next = () => Promise<unknown> | null;

interface Options {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmUpSeconds: number;
  readonly concurrency: number;
}

const DEFAULTS: Options = {
  rounds: ROUNDS,
  seconds: SECONDS,
  warmUpSeconds: WARM_UP_SECONDS,
  concurrency: CONCURRENCY,
};

/** One load in an interleaved measurement: what to call, on which server process. */
interface Load {
  readonly name: string;
  readonly server: BenchProcess;
  readonly next: Next;
  /** The database the load uses, whose CPU is counted too. */
  readonly database?: CpuMeter | undefined;
}

interface CpuMeter {
  cpuSeconds(): number;
}

/** A load's totals over all rounds. */
interface Measured {
  readonly name: string;
  readonly calls: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuCores: number;
  readonly generatorCpuCores: number;
  readonly databaseCpuCores: number | undefined;
  readonly peakRssMb: number;
}

/**
 * Warms every load up, then runs `rounds` rounds in which each load runs for `seconds`, the
 * order rotating by one each round; returns each load's totals over its measured windows.
 */
async function interleave(loads: readonly Load[], options: Options): Promise<Measured[]> {
  const totals = loads.map(() => ({
    calls: 0,
    errors: 0,
    firstError: undefined as string | undefined,
    seconds: 0,
    serverCpu: 0,
    generatorCpu: 0,
    databaseCpu: 0,
    latencies: [] as number[],
  }));
  for (const load of loads) {
    await runLoad({
      concurrency: options.concurrency,
      warmUpMs: options.warmUpSeconds * 1000,
      durationMs: 0,
      next: load.next,
    });
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < loads.length; k++) {
      const index = (round + k) % loads.length;
      const load = loads[index] as Load;
      const total = totals[index] as (typeof totals)[number];
      let serverAtStart = load.server.cpuSeconds();
      let generatorAtStart = process.cpuUsage();
      let databaseAtStart = load.database?.cpuSeconds() ?? 0;
      const result = await runLoad({
        concurrency: options.concurrency,
        warmUpMs: ROUND_RAMP_MS,
        durationMs: options.seconds * 1000,
        next: load.next,
        onMeasureStart() {
          serverAtStart = load.server.cpuSeconds();
          generatorAtStart = process.cpuUsage();
          databaseAtStart = load.database?.cpuSeconds() ?? 0;
        },
      });
      const generator = process.cpuUsage(generatorAtStart);
      total.serverCpu += load.server.cpuSeconds() - serverAtStart;
      total.databaseCpu += (load.database?.cpuSeconds() ?? 0) - databaseAtStart;
      total.generatorCpu += (generator.user + generator.system) / 1e6;
      total.calls += result.calls;
      total.errors += result.errors;
      total.firstError ??= result.firstError;
      total.seconds += result.seconds;
      for (const latency of result.latencies) {
        total.latencies.push(latency);
      }
    }
  }
  return loads.map((load, index) => {
    const total = totals[index] as (typeof totals)[number];
    const latencies = total.latencies.sort((a, b) => a - b);
    const perSecondOf = (amount: number) => (total.seconds > 0 ? amount / total.seconds : 0);
    return {
      name: load.name,
      calls: total.calls,
      errors: total.errors,
      firstError: total.firstError,
      perSecond: perSecondOf(total.calls),
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      serverCpuCores: perSecondOf(total.serverCpu),
      generatorCpuCores: perSecondOf(total.generatorCpu),
      databaseCpuCores: load.database === undefined ? undefined : perSecondOf(total.databaseCpu),
      peakRssMb: load.server.peakRssBytes() / 2 ** 20,
    };
  });
}

/** A result row: a scenario and the ceilings it was interleaved with. */
interface Row extends Measured {
  readonly transport: Transport;
  readonly store: Store | "—";
  readonly note: string;
  readonly noop?: number;
  readonly grpcJs?: number;
  /** The database's one-statement ceiling. */
  readonly baseline?: number;
}

const rows: Row[] = [];

function record(row: Row) {
  rows.push(row);
  const ratios = [
    row.noop ? `÷ no-op ${(row.perSecond / row.noop).toFixed(2)}` : "",
    row.grpcJs ? `÷ grpc-js no-op ${(row.perSecond / row.grpcJs).toFixed(2)}` : "",
    row.baseline ? `÷ 1-statement ${(row.perSecond / row.baseline).toFixed(2)}` : "",
  ].filter(Boolean);
  process.stderr.write(
    `  ${row.name} ${row.transport} ${row.store}: ${row.perSecond.toFixed(0)}/s p50 ${row.p50Ms.toFixed(2)} ms p99 ${row.p99Ms.toFixed(2)} ms, server ${row.serverCpuCores.toFixed(2)} cores (${cpuMicrosPerCall(row).toFixed(0)} µs/call), generator ${row.generatorCpuCores.toFixed(2)} cores${row.databaseCpuCores === undefined ? "" : `, database ${row.databaseCpuCores.toFixed(2)} cores`}${ratios.length ? `, ${ratios.join(", ")}` : ""}${row.errors ? `, ${row.errors} errors (${row.firstError})` : ""}\n`,
  );
}

/** Server CPU time per call, in µs. */
function cpuMicrosPerCall(row: Measured): number {
  return row.perSecond > 0 ? (row.serverCpuCores / row.perSecond) * 1e6 : 0;
}

let emailSerial = 0;
const nextEmail = (prefix: string) => `${prefix}-${emailSerial++}@bench.example.com`;

const SERVICE_ENV = {
  OTP_IP_REQUEST_LIMIT: "off",
  OTP_REQUEST_LIMIT: "1000/1h",
  // GetStatus by email without a service token, as every recorded result measured it.
  STATUS_BY_EMAIL: "open",
};

/** The fixed parts of one transport-and-store pass: its ceiling processes and service settings. */
interface Pass {
  readonly transport: Transport;
  readonly store: Store;
  /** Settings for a fresh service process (a fresh database for a database's store). */
  readonly serviceEnv: () => Promise<Record<string, string>>;
  /** The bare grpc-js server (gRPC, in memory only). */
  readonly grpcJs?: BenchProcess;
  /** The database's one-statement server: pg-baseline or mysql-baseline (databases only). */
  readonly baseline?: { readonly name: string; readonly process: BenchProcess };
  /** The database server of the service and of the baseline. */
  readonly database?: CpuMeter;
}

type Client = ReturnType<typeof rpcs>;

/** A fresh service process, and how to measure a scenario on it against its ceilings. */
interface Service {
  readonly server: BenchProcess;
  readonly client: Client;
  /**
   * Measures `next` interleaved with this process's own no-op (the health Check) and the pass's
   * ceilings, and records the row. With `showCeilings`, also rows for the ceilings themselves.
   */
  measure(name: string, note: string, next: Next, showCeilings?: boolean): Promise<Row>;
}

async function withService(
  pass: Pass,
  env: Record<string, string>,
  options: Options,
  run: (service: Service) => Promise<void>,
): Promise<void> {
  const server = await startServiceProcess({ ...(await pass.serviceEnv()), ...env });
  const port = pass.transport === "grpc-port" ? (server.grpcPort as number) : server.port;
  const client = rpcs(pass.transport, port, options.concurrency);
  const ceilings = [
    ...(pass.grpcJs ? [{ name: "grpc-js", process: pass.grpcJs }] : []),
    ...(pass.baseline ? [pass.baseline] : []),
  ].map((c) => ({
    ...c,
    // At GRPC_PORT the one-statement ceiling is its bare grpc-js port (baseline-stack.ts).
    client: rpcs(
      pass.transport,
      pass.transport === "grpc-port" && c.name === pass.baseline?.name
        ? (c.process.grpcPort as number)
        : c.process.port,
      options.concurrency,
    ),
  }));
  // The no-op is the health Check of the door under test (grpc-health-check on GRPC_PORT; for
  // REST, which has no health route, Connect JSON's, as for the connect transport).
  const measure = async (name: string, note: string, next: Next, showCeilings = false) => {
    const [measured, noop, ...others] = await interleave(
      [
        { name, server, next, database: pass.database },
        { name: "no-op", server, next: client.noop, database: pass.database },
        ...ceilings.map((c) => ({
          name: c.name,
          server: c.process,
          next: c.client.noop,
          database: c.name === pass.baseline?.name ? pass.database : undefined,
        })),
      ],
      options,
    );
    const ceiling = (which: string) => others.find((m) => m.name === which)?.perSecond;
    const row: Row = {
      ...(measured as Measured),
      transport: pass.transport,
      store: pass.store,
      note,
      noop: noop?.perSecond,
      grpcJs: ceiling("grpc-js"),
      baseline: pass.baseline && ceiling(pass.baseline.name),
    };
    record(row);
    if (showCeilings) {
      const grpcJs = ceiling("grpc-js");
      const baseline = pass.baseline && ceiling(pass.baseline.name);
      record({
        ...(noop as Measured),
        transport: pass.transport,
        store: pass.store,
        note:
          pass.transport === "rest"
            ? "Connect JSON health Check, same process"
            : "health Check, same stack",
        grpcJs,
        baseline,
      });
      for (const other of others) {
        const isGrpcJs = other.name === "grpc-js";
        record({
          ...other,
          transport: pass.transport,
          store: isGrpcJs ? "—" : pass.store,
          note: isGrpcJs
            ? "bare @grpc/grpc-js, no-op handler"
            : "1 statement through the service's pool",
          grpcJs: isGrpcJs ? grpcJs : undefined,
          baseline: isGrpcJs ? undefined : baseline,
        });
      }
    }
    return row;
  };
  try {
    await run({ server, client, measure });
  } finally {
    client.close();
    for (const c of ceilings) {
      c.client.close();
    }
    await server.stop();
  }
}

/**
 * The login flow on one service process with the console sender, whose stdout goes to a file
 * that this process reads: every code is learnt the way a user learns it, from what was
 * delivered. RequestOtp is measured first; then more codes are requested (not measured) until
 * there are enough for VerifyOtp to verify each code once for the whole measurement. `bound`:
 * VerifyOtp sends the otp_id RequestOtp answered, as the login page and the README do; else it
 * names no code (the latest, seed A's call). Each on a process and database of its own, so that
 * both verify against as many codes as the other.
 */
async function loginFlow(pass: Pass, options: Options, bound: boolean) {
  await withService(pass, { OTP_SENDER: "console" }, options, async (service) => {
    const requested: { email: string; otpId: string }[] = [];
    const request = () => {
      const login = { email: nextEmail("l"), otpId: "" };
      requested.push(login);
      return service.client.requestOtp(login.email).then((otpId) => {
        login.otpId = otpId;
      });
    };
    const step1 = await service.measure(
      "RequestOtp",
      `login step 1: console sender${bound ? " (bound login)" : ""}`,
      request,
    );
    // Every warm-up and measured VerifyOtp at up to 1.3 times the no-op's pace.
    const seconds =
      options.warmUpSeconds + options.rounds * (options.seconds + ROUND_RAMP_MS / 1000);
    const needed = Math.ceil(1.3 * (step1.noop ?? 10_000) * seconds);
    await runLoad({
      concurrency: options.concurrency,
      warmUpMs: 0,
      durationMs: 600_000,
      next: () => (requested.length >= needed ? null : request()),
    });
    const codes = printedCodes(service.server);
    const logins = requested.map(({ email, otpId }) => ({
      email,
      otpId,
      code: codes.get(email) ?? "",
    }));
    const note = bound
      ? `login step 2, bound (otp_id): ${logins.length} printed codes`
      : `login step 2: ${logins.length} printed codes`;
    await service.measure("VerifyOtp", note, () => {
      const login = logins.pop();
      return login === undefined
        ? null
        : service.client
            .verifyOtp(login.email, login.code, bound ? login.otpId : undefined)
            .then((authenticated) => {
              if (!authenticated) {
                throw new Error("VerifyOtp answered authenticated=false");
              }
            });
    });
  });
}

async function runPass(pass: Pass, options: Options = DEFAULTS) {
  process.stderr.write(`${pass.transport}, ${pass.store}\n`);
  const discard = { OTP_SENDER: "discard" };
  await withService(pass, discard, options, async ({ client, measure }) => {
    await measure(
      "GetStatus",
      "distinct unknown emails",
      () => client.getStatus(nextEmail("s")),
      true,
    );
  });
  await withService(pass, discard, options, async ({ client, measure }) => {
    await measure("RequestOtp", "distinct emails, discard sender", () =>
      client.requestOtp(nextEmail("r")),
    );
  });
  await loginFlow(pass, options, false);
  await loginFlow(pass, options, true);
}

const sweep: Row[] = [];

/** gRPC transports have the bare grpc-js no-op as a ceiling. */
const isGrpc = (transport: Transport) => transport === "grpc" || transport === "grpc-port";

async function main() {
  const started = new Date();
  process.stderr.write(
    `otp-auth benchmark: ${ROUNDS} rounds of ${SECONDS}s per load after ${WARM_UP_SECONDS}s warm-up, ${CONCURRENCY} in flight\n`,
  );
  const grpcJs = WITH_MEMORY ? await startGrpcJsNoop() : undefined;
  try {
    for (const transport of WITH_MEMORY ? TRANSPORTS : []) {
      await runPass({
        transport,
        store: "memory",
        serviceEnv: async () => SERVICE_ENV,
        grpcJs: isGrpc(transport) ? grpcJs : undefined,
      });
    }
    if (SWEEP && WITH_MEMORY) {
      process.stderr.write("throughput against concurrency\n");
      for (const concurrency of SWEEP_LEVELS) {
        for (const transport of TRANSPORTS) {
          const options = { rounds: 2, seconds: 1, warmUpSeconds: 0.5, concurrency };
          const pass: Pass = {
            transport,
            store: "memory",
            serviceEnv: async () => SERVICE_ENV,
            grpcJs: isGrpc(transport) ? grpcJs : undefined,
          };
          const before = rows.length;
          await withService(
            pass,
            { OTP_SENDER: "discard" },
            options,
            async ({ client, measure }) => {
              await measure("GetStatus", "sweep", () => client.getStatus(nextEmail("w")), true);
            },
          );
          for (const row of rows.splice(before)) {
            sweep.push({ ...row, note: String(concurrency) });
          }
        }
      }
    }
  } finally {
    await grpcJs?.stop();
  }
  if (WITH_POSTGRES) {
    const pgServer = await startPostgresServer();
    // The same scenarios with unnamed statements (DATABASE_POOLER=transaction), directly and
    // through PgBouncer in transaction pooling mode (default settings): the statement mode's
    // cost, then the pooler's. PgBouncer's CPU counts as the database's.
    const bouncer = await startPgBouncer(pgServer.url);
    const direct = (url: string) => url;
    const routes = [
      { store: "postgres", pooler: "none", url: direct, database: pgServer },
      { store: "postgres, unnamed", pooler: "transaction", url: direct, database: pgServer },
      {
        store: "postgres via PgBouncer",
        pooler: "transaction",
        url: bouncer.urlFor,
        database: { cpuSeconds: () => pgServer.cpuSeconds() + bouncer.cpuSeconds() },
      },
    ] as const;
    try {
      for (const route of routes) {
        const pgBaseline = await startPgBaseline(
          route.url(await createDatabase(pgServer.url)),
          route.pooler,
        );
        try {
          for (const transport of TRANSPORTS) {
            await runPass({
              transport,
              store: route.store,
              serviceEnv: async () => ({
                ...SERVICE_ENV,
                STORAGE: "postgres",
                DATABASE_URL: route.url(await createDatabase(pgServer.url)),
                DATABASE_POOLER: route.pooler,
                OTP_HMAC_KEY: HMAC_KEY,
                ACCESS_TOKEN_KEYS: writeKeySetFile(),
              }),
              baseline: { name: "pg-baseline", process: pgBaseline },
              database: route.database,
            });
          }
        } finally {
          await pgBaseline.stop();
        }
      }
    } finally {
      await bouncer.destroy();
      await pgServer.destroy();
    }
  }
  if (WITH_MYSQL) {
    await mysqlPasses();
  }
  const report = render(started);
  process.stdout.write(report);
  writeFileSync(resultsFile, report);
  process.stderr.write(`written to ${resultsFile}\n`);
}

/**
 * The same scenarios with STORAGE=mysql on a throw-away MariaDB (Debian's mariadb-server), with
 * its own one-statement ceiling; left out, with a line saying so, when MariaDB is not installed.
 */
async function mysqlPasses() {
  try {
    findMariadb();
  } catch (error) {
    process.stderr.write(`MySQL (MariaDB) scenarios left out: ${(error as Error).message}\n`);
    return;
  }
  const server = await startMariadbServer();
  try {
    const baseline = await startMysqlBaseline(await createMysqlDatabase(server.url));
    try {
      for (const transport of TRANSPORTS) {
        await runPass({
          transport,
          store: "mysql (MariaDB)",
          serviceEnv: async () => ({
            ...SERVICE_ENV,
            STORAGE: "mysql",
            DATABASE_URL: await createMysqlDatabase(server.url),
            OTP_HMAC_KEY: HMAC_KEY,
            ACCESS_TOKEN_KEYS: writeKeySetFile(),
          }),
          baseline: { name: "mysql-baseline", process: baseline },
          database: server,
        });
      }
    } finally {
      await baseline.stop();
    }
  } finally {
    await server.destroy();
  }
}

function render(started: Date): string {
  const ratio = (value: number, of: number | undefined) => (of ? (value / of).toFixed(2) : "");
  const lines = [
    "# otp-auth benchmark results",
    "",
    `${started.toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? "?"} · Linux ${release()} · servers on Node ${SERVER_NODE}, load generator on Node ${process.version}`,
    "",
    `\`npm run bench\` (BENCH_ROUNDS=${ROUNDS}, BENCH_SECONDS=${SECONDS}, BENCH_WARMUP_SECONDS=${WARM_UP_SECONDS}, BENCH_CONCURRENCY=${CONCURRENCY}, BENCH_TRANSPORTS=${TRANSPORTS.join(",")}): each scenario on a fresh service process, interleaved round by round with the same process's no-op (health Check) and the ceilings; load from the bench process (gRPC: raw node:http2, Connect JSON and REST: node:http keep-alive over HTTP/1.1). Transport grpc-port: gRPC on GRPC_PORT, grpc-js's own server.`,
    "Transport rest: the google.api.http routes on the main port (GetStatus as `GET /auth/status?email=…`, RequestOtp and VerifyOtp as `POST /auth/request-otp` and `POST /auth/verify-otp` with JSON bodies); the health Check has no REST route, so its no-op is Connect JSON's health Check, the same as the connect transport's.",
    "Ratios: calls/s to the no-op, to the bare @grpc/grpc-js no-op (gRPC, in memory) and, with a database, to one statement through the same pool on the same stack (pg-baseline, mysql-baseline), each measured interleaved with the scenario.",
    "`postgres, unnamed`: DATABASE_POOLER=transaction directly (unnamed statements, the baseline's too); `postgres via PgBouncer`: the same through PgBouncer in transaction pooling mode (default settings), whose CPU the database CPU column includes.",
    "",
    "| scenario | transport | store | calls/s | p50 ms | p99 ms | server CPU (cores) | server CPU µs/call | database CPU (cores) | server peak RSS MB | no-op calls/s | ÷ no-op | ÷ grpc-js no-op | ÷ 1-statement | generator CPU | errors | note |",
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.transport} | ${r.store} | ${r.perSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.serverCpuCores.toFixed(2)} | ${cpuMicrosPerCall(r).toFixed(0)} | ${r.databaseCpuCores?.toFixed(2) ?? ""} | ${r.peakRssMb.toFixed(0)} | ${r.noop?.toFixed(0) ?? ""} | ${ratio(r.perSecond, r.noop)} | ${ratio(r.perSecond, r.grpcJs)} | ${ratio(r.perSecond, r.baseline)} | ${r.generatorCpuCores.toFixed(2)} | ${r.errors} | ${r.note} |`,
    );
  }
  if (sweep.length > 0) {
    const series = [...new Set(sweep.map((r) => `${r.name} ${r.transport}`))];
    lines.push("", "Throughput (calls/s) against calls in flight, in-memory store:", "");
    lines.push(
      `| in flight | ${series.join(" | ")} |`,
      `|--:|${series.map(() => "--:").join("|")}|`,
    );
    for (const level of SWEEP_LEVELS) {
      const cells = series.map((name) => {
        const r = sweep.find(
          (s) => s.note === String(level) && `${s.name} ${s.transport}` === name,
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
