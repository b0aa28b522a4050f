import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { type PgBouncer, startPgBouncer } from "../support/pgbouncer.js";
import { createDatabase } from "../support/postgres-server.js";
import {
  type ReplicatedPostgres,
  startReplicatedPostgres,
} from "../support/replicated-postgres.js";
import { killServices } from "../support/service-process.js";
import {
  type LoadTarget,
  lostLogins,
  RECOVERY_MS,
  readiness,
  readyAgain,
  recoveries,
  startInstances,
  startLoginLoad,
  undercountedLimits,
} from "./failover-harness.js";

// A real primary and a streaming-replication standby (pg_basebackup -R), two service processes
// with both hosts in DATABASE_URL under login load; the primary is killed (SIGKILL, no shutdown)
// and the standby promoted, as an HA manager would. Synchronous replication: nothing acknowledged
// is lost. Asynchronous: only what the standby had replayed is kept (docs/storage.md "Failover").
// pg-auto-failover.system.test.ts lets pg_auto_failover do the promotion.

let cluster: ReplicatedPostgres | undefined;
let bouncers: PgBouncer[] = [];

afterEach(async () => {
  killServices();
  await Promise.all(bouncers.map((bouncer) => bouncer.destroy()));
  bouncers = [];
  await cluster?.destroy();
  cluster = undefined;
});

/**
 * Builds the replicated pair, runs the load on two instances, kills the primary, promotes the
 * standby a second later, and answers what happened: the load, how soon each instance answered
 * after the promotion, what was acknowledged before the kill, and the part of it the standby was
 * known to have replayed.
 */
async function failOver(synchronous: boolean, options: { viaPgBouncer?: boolean } = {}) {
  cluster = await startReplicatedPostgres({ synchronous });
  const databaseUrl = await createDatabase(cluster.primary.url);
  const database = new URL(databaseUrl).pathname.slice(1);
  let hosts = [cluster.primary.port, cluster.standby.port].map((port) => `127.0.0.1:${port}`);
  let instances: LoadTarget[];
  if (options.viaPgBouncer) {
    // A PgBouncer in front of each node, as each database machine often has its own.
    bouncers = await Promise.all([
      startPgBouncer(cluster.primary.url),
      startPgBouncer(cluster.standby.url),
    ]);
    hosts = bouncers.map((bouncer) => `127.0.0.1:${bouncer.port}`);
    const one = new URL(bouncers[0]?.urlFor(databaseUrl) ?? "");
    instances = await startInstances(
      `postgres://${one.username}:${one.password}@${hosts.join(",")}/${database}?target_session_attrs=read-write`,
      { DATABASE_POOLER: "transaction" },
    );
  } else {
    instances = await startInstances(cluster.multiHostUrl(database));
  }
  const [primaryHost, standbyHost] = hosts as [string, string];
  for (const instance of instances) {
    expect((await readiness(instance)).body).toMatchObject({
      status: "SERVING",
      database: { hosts: [primaryHost, standbyHost], primary: primaryHost, lastFailover: null },
    });
  }

  const load = startLoginLoad(instances, 6);
  await sleep(1_500);
  // What the standby has replayed by now survives even an asynchronous failover.
  const replicated = load.logins.length;
  await cluster.caughtUp();
  await sleep(1_000);
  cluster.primary.kill();
  const killedAt = Date.now();
  const acknowledged = [...load.logins];
  const issued = new Map(load.issued);
  // An HA manager takes seconds to decide; meanwhile the instances find no primary.
  await sleep(1_000);
  await cluster.standby.promote();
  const promotedAt = Date.now();
  const recoveredAfter = await recoveries(load, promotedAt);
  await sleep(500);
  await load.stop();
  console.log(
    `[failover] ${synchronous ? "synchronous" : "asynchronous"}${options.viaPgBouncer ? " through PgBouncer" : ""}: ${acknowledged.length} logins acknowledged before the kill; instances answered again ${recoveredAfter.join(" and ")} ms after the promotion`,
  );
  return {
    instances,
    load,
    recoveredAfter,
    acknowledged,
    replicated: acknowledged.slice(0, replicated),
    issued,
    killedAt,
    primaryHost,
    standbyHost,
  };
}

describe("a PostgreSQL failover under login load, with both hosts in DATABASE_URL", () => {
  it.each([
    ["directly", false],
    ["through a PgBouncer per node (DATABASE_POOLER=transaction)", true],
  ])(
    "synchronous replication, %s: both instances recover by themselves, and nothing acknowledged is lost",
    {
      timeout: 90_000,
    },
    async (_how, viaPgBouncer) => {
      const run = await failOver(true, { viaPgBouncer });
      expect(run.load.wrong).toEqual([]);
      for (const after of run.recoveredAfter) {
        expect(after).toBeLessThan(RECOVERY_MS);
      }
      expect(run.acknowledged.length).toBeGreaterThan(10);
      for (const instance of run.instances) {
        // Recovered without a restart: the same processes, still running.
        expect(instance.service.child.exitCode).toBeNull();
        const ready = await readyAgain(instance);
        expect(ready.status).toBe(200);
        expect(ready.body.database.primary).toBe(run.standbyHost);
        expect(ready.body.database.lastFailover).toMatchObject({
          from: run.primaryHost,
          to: run.standbyHost,
        });
        expect(Date.parse(ready.body.database.lastFailover?.at ?? "")).toBeGreaterThan(
          run.killedAt,
        );
        const metrics = await (await fetch(`${instance.baseUrl}/metrics`)).text();
        expect(metrics).toContain(`otp_auth_database_primary{host="${run.standbyHost}"} 1`);
        expect(metrics).toContain(`otp_auth_database_primary{host="${run.primaryHost}"} 0`);
        expect(metrics).toMatch(/^otp_auth_database_last_failover_timestamp_seconds [1-9]/m);
      }
      // Every session handed out is live, every code used stays used, every request counts.
      expect(await lostLogins(run.instances, run.acknowledged)).toEqual([]);
      const [first] = run.instances as [LoadTarget];
      expect(await undercountedLimits(first, run.issued)).toEqual([]);
    },
  );

  it("asynchronous replication: both instances recover, and what the standby had replayed is kept", {
    timeout: 90_000,
  }, async () => {
    const run = await failOver(false);
    expect(run.load.wrong).toEqual([]);
    for (const after of run.recoveredAfter) {
      expect(after).toBeLessThan(RECOVERY_MS);
    }
    expect(run.replicated.length).toBeGreaterThan(0);
    expect(await lostLogins(run.instances, run.replicated)).toEqual([]);
    for (const instance of run.instances) {
      expect(instance.service.child.exitCode).toBeNull();
      const ready = await readyAgain(instance);
      expect(ready.status).toBe(200);
      expect(ready.body.database.primary).toBe(run.standbyHost);
    }
  });
});
