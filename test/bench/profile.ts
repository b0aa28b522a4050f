// Profiles the service (in-memory store, or PostgreSQL at PROFILE_DATABASE_URL) under one
// scenario's load with node --cpu-prof, and prints where the server's time went during the
// measured window only: the functions with the most self time, then self time by package or
// source directory, in µs per call. Used to find hotspots (docs/benchmarks.md).
//
//   npx tsx test/bench/profile.ts [no-op|GetStatus|RequestOtp|VerifyOtp|VerifyOtp-bound|grpc-js] [grpc|grpc-port|connect|rest]
//   PROFILE_DATABASE_URL=postgres://… npx tsx test/bench/profile.ts VerifyOtp grpc-port
//
// `grpc-js` profiles the bench's bare @grpc/grpc-js no-op server instead (over grpc or grpc-port).
// The no-op over rest is Connect JSON's health Check (the health Check has no REST route).
// RequestOtp uses the discard sender. VerifyOtp first requests codes with the console sender
// and reads them from the service's output, as the bench does (not profiled), then verifies them;
// VerifyOtp-bound sends each with the otp_id its RequestOtp answered.

import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { printedCodes, startGrpcJsNoop, startServiceProcess } from "./bench-processes.js";
import { rpcs, transportsOf } from "./rpcs.js";
import { runLoad } from "./run-load.js";

const scenario = process.argv[2] ?? "RequestOtp";
const verifying = scenario === "VerifyOtp" || scenario === "VerifyOtp-bound";
const database = process.env.PROFILE_DATABASE_URL;
const [transport] = transportsOf(process.argv[3] ?? "grpc", "transport (second argument)");
const CONCURRENCY = 64;
const SECONDS = 5;
const dir = mkdtempSync(join(tmpdir(), "otp-prof-"));
const profiling = ["--cpu-prof", `--cpu-prof-dir=${dir}`];
// `grpc-js`: the bare grpc-js server of the bench's ceiling, for comparison (its no-op only).
const bare = scenario === "grpc-js";
const server = bare
  ? await startGrpcJsNoop(profiling)
  : await startServiceProcess(
      {
        OTP_IP_REQUEST_LIMIT: "off",
        OTP_REQUEST_LIMIT: "1000/1h",
        OTP_SENDER: verifying ? "console" : "discard",
        // GetStatus by email without a service token, as the bench measures it.
        STATUS_BY_EMAIL: "open",
        ...(database !== undefined && {
          STORAGE: "postgres",
          DATABASE_URL: database,
          OTP_HMAC_KEY: "profile-hmac-key-of-at-least-32-characters",
          ACCESS_TOKEN_KEYS: writeKeySetFile(),
        }),
      },
      profiling,
    );
const client = rpcs(
  transport,
  transport === "grpc-port" && !bare ? (server.grpcPort as number) : server.port,
  CONCURRENCY,
);
let serial = 0;
const email = () => `p-${serial++}@bench.example.com`;

let next: () => Promise<unknown> | null;
if (verifying) {
  const requested: string[] = [];
  const otpIds = new Map<string, string>();
  await runLoad({
    concurrency: CONCURRENCY,
    warmUpMs: 0,
    durationMs: 60_000,
    next: () => {
      if (requested.length >= 40_000) {
        return null;
      }
      const address = email();
      requested.push(address);
      return client.requestOtp(address).then((otpId) => {
        otpIds.set(address, otpId);
      });
    },
  });
  const codes = printedCodes(server);
  next = () => {
    const address = requested.pop();
    return address === undefined
      ? null
      : client.verifyOtp(
          address,
          codes.get(address) ?? "",
          scenario === "VerifyOtp-bound" ? otpIds.get(address) : undefined,
        );
  };
} else if (scenario === "no-op" || bare) {
  next = client.noop;
} else if (scenario === "GetStatus") {
  next = () => client.getStatus(email());
} else if (scenario === "RequestOtp") {
  next = () => client.requestOtp(email());
} else {
  throw new Error(`unknown scenario ${scenario}`);
}

// Profile timestamps are CLOCK_MONOTONIC microseconds, as is process.hrtime.
const nowMicros = () => Number(process.hrtime.bigint() / 1000n);
let windowStart = 0;
const result = await runLoad({
  concurrency: CONCURRENCY,
  warmUpMs: 1000,
  durationMs: SECONDS * 1000,
  next,
  onMeasureStart: () => {
    windowStart = nowMicros();
  },
});
const windowEnd = windowStart + result.seconds * 1e6;
client.close();
await server.stop();
console.log(
  `${scenario} over ${transport}: ${result.perSecond.toFixed(0)}/s, ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ""}`,
);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
const profile = JSON.parse(readFileSync(join(dir, file as string), "utf8")) as {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
};
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
const place = (url: string, name: string) => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) {
    return pkg[1] as string;
  }
  const src = /\/(src|gen)\/([^/]+)/.exec(url);
  if (src) {
    return `${src[1]}/${src[2]}`;
  }
  if (url.startsWith("node:")) {
    return url.split("/").slice(0, 2).join("/");
  }
  return url === "" ? name : url;
};
const add = (map: Map<string, number>, key: string, micros: number) =>
  map.set(key, (map.get(key) ?? 0) + micros);
let at = profile.startTime;
let total = 0;
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0;
  at += delta;
  if (at < windowStart || at > windowEnd) {
    return;
  }
  const frame = byId.get(id)?.callFrame;
  const url = frame?.url ?? "";
  const name = frame?.functionName || "(anonymous)";
  const short = url.replace(/.*node_modules\//, "").replace(/.*\/(src|gen)\//, "$1/");
  add(byFunction, `${name} ${short}:${frame?.lineNumber}`, delta);
  add(byPlace, place(url, name), delta);
  total += delta;
});
const show = (map: Map<string, number>, count: number) => {
  for (const [key, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    const share = `${((100 * micros) / total).toFixed(1)}%`.padStart(6);
    console.log(`${share} ${(micros / result.calls).toFixed(1).padStart(6)} µs/call  ${key}`);
  }
};
console.log(`${(total / result.calls).toFixed(1)} µs of server time per call`);
show(byFunction, 30);
console.log("\nby package or source directory:");
show(byPlace, 25);
