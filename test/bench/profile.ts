// Profiles the service under RequestOtp load (gRPC, in-memory store, discard sender) with
// node --cpu-prof and prints the functions with the most self time. Used to find hotspots.
//
//   npx tsx test/bench/profile-request-otp.ts [RequestOtp|no-op]

import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { RequestOtpRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import { spawnBenchProcess } from "./bench-processes.js";
import { createGrpcCaller } from "./load-clients.js";
import { runLoad } from "./run-load.js";

const which = process.argv[2] ?? "RequestOtp";
const dir = mkdtempSync(join(tmpdir(), "otp-prof-"));
const server = await spawnBenchProcess(
  "src/main.ts",
  { PORT: "0", HOST: "127.0.0.1", OTP_SENDER: "discard", OTP_IP_REQUEST_LIMIT: "off" },
  /otp-auth listening on 127\.0\.0\.1:(\d+)/,
  ["--cpu-prof", `--cpu-prof-dir=${dir}`],
);
const { call, close } = createGrpcCaller(server.port, 1);
let n = 0;
const result = await runLoad({
  concurrency: 64,
  warmUpMs: 1000,
  durationMs: 5000,
  next: () =>
    which === "no-op"
      ? call("/grpc.health.v1.Health/Check", new Uint8Array(0))
      : call(
          "/auth.v1.AuthService/RequestOtp",
          toBinary(
            RequestOtpRequestSchema,
            create(RequestOtpRequestSchema, { email: `p-${n++}@bench.example.com` }),
          ),
        ),
});
close();
await server.stop();
console.log(`${which}: ${result.perSecond.toFixed(0)}/s`);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
const profile = JSON.parse(readFileSync(join(dir, file as string), "utf8")) as {
  nodes: ProfileNode[];
  samples: number[];
};
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<string, number>();
for (const id of profile.samples) {
  const frame = byId.get(id)?.callFrame;
  const key = `${frame?.functionName || "(anonymous)"} ${frame?.url.replace(/.*node_modules\//, "").replace(/.*\/main\//, "")}:${frame?.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + 1);
}
const total = profile.samples.length;
for (const [key, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${key}`);
}
