import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { type AutoFailoverFormation, startAutoFailover } from "../support/pg-auto-failover.js";
import { createDatabase } from "../support/postgres-server.js";
import { killServices } from "../support/service-process.js";
import {
  type LoadTarget,
  lostLogins,
  RECOVERY_MS,
  readyAgain,
  recoveries,
  startInstances,
  startLoginLoad,
  undercountedLimits,
} from "./failover-harness.js";

// The failover of postgres-failover.system.test.ts, with pg_auto_failover (Debian's
// postgresql-15-auto-failover) deciding and promoting instead of the test: a monitor, two keepers
// that set up synchronous streaming replication themselves, and the primary's machine killed
// (its keeper and its PostgreSQL, SIGKILL).

let formation: AutoFailoverFormation | undefined;

afterEach(async () => {
  killServices();
  await formation?.destroy();
  formation = undefined;
});

describe("a pg_auto_failover failover under login load", () => {
  it("the monitor promotes the standby; both instances follow by themselves and nothing acknowledged is lost", {
    timeout: 120_000,
  }, async () => {
    formation = await startAutoFailover();
    const [primaryPort, standbyPort] = formation.ports;
    const databaseUrl = await createDatabase(
      `postgres://postgres@127.0.0.1:${primaryPort}/postgres`,
    );
    const instances = await startInstances(
      formation.multiHostUrl(new URL(databaseUrl).pathname.slice(1)),
    );
    const load = startLoginLoad(instances, 6);
    await sleep(2_000);
    formation.kill(0);
    const killedAt = Date.now();
    const acknowledged = [...load.logins];
    const issued = new Map(load.issued);
    await formation.primaryIs(1, 60_000);
    const promotedAt = Date.now();
    const recoveredAfter = await recoveries(load, promotedAt);
    await sleep(500);
    await load.stop();
    console.log(
      `[failover] pg_auto_failover: promoted ${promotedAt - killedAt} ms after the kill; ${acknowledged.length} logins acknowledged before it; instances answered again ${recoveredAfter.join(" and ")} ms after the promotion`,
    );

    expect(load.wrong).toEqual([]);
    for (const after of recoveredAfter) {
      expect(after).toBeLessThan(RECOVERY_MS);
    }
    expect(acknowledged.length).toBeGreaterThan(10);
    for (const instance of instances) {
      expect(instance.service.child.exitCode).toBeNull();
      const ready = await readyAgain(instance);
      expect(ready.status).toBe(200);
      expect(ready.body.database.primary).toBe(`127.0.0.1:${standbyPort}`);
    }
    expect(await lostLogins(instances, acknowledged)).toEqual([]);
    const [first] = instances as [LoadTarget];
    expect(await undercountedLimits(first, issued)).toEqual([]);
  });
});
