// `npm run soak`: minutes of mixed load on two service instances sharing one PostgreSQL, with
// faults injected on a schedule (database stopped and started, database frozen and thawed, each
// instance SIGKILLed and restarted), then the audit. Prints what held and exits 1 on any
// invariant violation. Duration: `--duration 2m` or SOAK_DURATION (default 3m).

import { startCodeReceiver } from "../bench/code-receiver.js";
import { type Fault, formatAudit } from "../support/audit.js";
import {
  auditRun,
  type Cluster,
  freezeDatabase,
  killInstance,
  startCluster,
  stopDatabase,
} from "../support/fault-cluster.js";
import { type MixedLoad, startMixedLoad } from "../support/mixed-load.js";
import { createDatabase, startPostgresServer } from "../support/postgres-server.js";
import { killServices } from "../support/service-process.js";

const FAULT_EVERY_MS = 10_000;

function durationMs(): number {
  const flag = process.argv.indexOf("--duration");
  const text =
    (flag >= 0 ? process.argv[flag + 1] : undefined) ?? process.env.SOAK_DURATION ?? "3m";
  const match = /^(\d+)(s|m)$/.exec(text);
  if (!match) {
    throw new Error(`duration must look like 90s or 3m, not ${JSON.stringify(text)}`);
  }
  return Number(match[1]) * (match[2] === "m" ? 60_000 : 1_000);
}

async function main(): Promise<number> {
  const duration = durationMs();
  const postgres = await startPostgresServer();
  const receiver = await startCodeReceiver();
  let load: MixedLoad | undefined;
  try {
    const databaseUrl = await createDatabase(postgres.url);
    const cluster: Cluster = await startCluster({ databaseUrl, receiver });
    load = startMixedLoad({ baseUrls: cluster.baseUrls, receiver, workers: 8, emailsPerWorker: 4 });
    const running = load;
    const schedule = [
      () => stopDatabase(postgres, cluster, running),
      () => freezeDatabase(postgres, cluster, running),
      () => killInstance(0, cluster, running),
      () => killInstance(1, cluster, running),
    ];
    const started = Date.now();
    const faults: Fault[] = [];
    console.log(`soak: ${duration / 1000}s, a fault every ${FAULT_EVERY_MS / 1000}s`);
    while (Date.now() - started + FAULT_EVERY_MS < duration) {
      // A schedule, not a wait for a signal: the load runs undisturbed between faults.
      await new Promise((resolve) => setTimeout(resolve, FAULT_EVERY_MS));
      const inject = schedule[faults.length % schedule.length] as () => Promise<Fault>;
      const fault = await inject();
      faults.push(fault);
      console.log(
        `  survived ${fault.kind}${fault.instance === undefined ? "" : ` of instance ${fault.instance}`} (${fault.to - fault.from} ms)`,
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, duration - (Date.now() - started))),
    );
    const report = await auditRun(cluster, running, databaseUrl, faults);
    const elapsed = (Date.now() - started) / 1000;
    console.log(summary(running, faults, elapsed));
    console.log(`invariants:\n${formatAudit(report)}`);
    console.log(`invariant violations: ${report.total}`);
    return report.total === 0 ? 0 : 1;
  } finally {
    await load?.stop();
    killServices();
    await Promise.all([postgres.destroy(), receiver.close()]);
  }
}

function summary(load: MixedLoad, faults: readonly Fault[], seconds: number): string {
  const { ledger } = load;
  const count = (keys: string[]) => {
    const counts = new Map<string, number>();
    for (const k of keys) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `    ${k}: ${n}`)
      .join("\n");
  };
  const failures = ledger.flatMap((e) =>
    e.outcome.ok ? [] : [`${e.outcome.reason ?? "(connection)"} [${e.rpc}]`],
  );
  return [
    `requests: ${ledger.length} in ${seconds.toFixed(0)}s (${(ledger.length / seconds).toFixed(0)}/s), ${ledger.length - failures.length} OK`,
    `  by rpc:\n${count(ledger.map((e) => e.rpc))}`,
    `  RequestOtp with an idempotency-key: ${ledger.filter((e) => e.idempotencyKey !== undefined).length}, answered as replays: ${ledger.filter((e) => e.replay === true).length}`,
    `errors by reason: ${failures.length}\n${count(failures)}`,
    `faults survived: ${faults.length}\n${count(faults.map((f) => f.kind))}`,
  ].join("\n");
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
