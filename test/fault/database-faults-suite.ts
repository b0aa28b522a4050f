import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CodeReceiver, startCodeReceiver } from "../bench/code-receiver.js";
import { type Fault, formatAudit } from "../support/audit.js";
import type { DatabaseEngine, DatabaseServer } from "../support/database-engine.js";
import { auditRun, killInstance, startCluster, stopDatabase } from "../support/fault-cluster.js";
import { type MixedLoad, startMixedLoad } from "../support/mixed-load.js";
import { killServices } from "../support/service-process.js";

// Two service processes on one database under a mixed load, while the database is stopped and
// started again and one instance is SIGKILLed and restarted. Afterwards the audit compares what
// every client was told with each other and with the database. The database server is the
// suite's own, so that it can be stopped under the running services. postgres-faults.test.ts
// runs it on PostgreSQL, mariadb-faults.system.test.ts on MariaDB (STORAGE=mysql).

let database: DatabaseServer;
let receiver: CodeReceiver;
let load: MixedLoad | undefined;

/** The suite on a server of `engine`'s. */
export function describeDatabaseFaults(engine: DatabaseEngine): void {
  beforeAll(async () => {
    [database, receiver] = await Promise.all([engine.startServer(), startCodeReceiver()]);
  });

  afterAll(async () => {
    await Promise.all([database?.destroy(), receiver?.close()]);
  });

  afterEach(async () => {
    await load?.stop();
    killServices();
  });

  describe(`${engine.name} faults under a mixed load on two instances`, () => {
    it("a database restart and a killed instance break no invariant", {
      timeout: 60_000,
    }, async () => {
      const databaseUrl = await engine.createDatabase(database.url);
      const cluster = await startCluster({ databaseUrl, receiver, engine });
      const running = startMixedLoad({
        baseUrls: cluster.baseUrls,
        receiver,
        workers: 6,
        emailsPerWorker: 3,
      });
      load = running;
      await Promise.all(
        cluster.baseUrls.map((_, i) => running.next((e) => e.instance === i && e.outcome.ok)),
      );

      const faults: Fault[] = [];
      // (a) The database goes away and comes back; the services are not restarted.
      faults.push(await stopDatabase(database, cluster, running));
      // (b) One instance dies mid-load; the other keeps serving; it comes back.
      faults.push(await killInstance(1, cluster, running));
      // Load on until a lock was hit, an email over its limit got a code again (its window
      // rolled on) and a SignOut with all_sessions was acknowledged, so that the audit has locks,
      // windows and revokes to check.
      const refusedEmails = () =>
        new Set(
          running.ledger
            .filter((e) => !e.outcome.ok && e.outcome.reason === "OTP_REQUEST_LIMIT")
            .map((e) => e.email),
        );
      await Promise.all([
        running.next((e) => !e.outcome.ok && e.outcome.reason === "OTP_LOCKED"),
        running.next((e) => e.rpc === "RequestOtp" && e.outcome.ok && refusedEmails().has(e.email)),
        running.next((e) => e.rpc === "SignOut" && e.outcome.ok && e.allSessions === true),
        // One device signed out too (half the sign-outs), waited for like the rest rather than
        // hoped for: a run whose single sign-outs all met the outage had none.
        running.next((e) => e.rpc === "SignOut" && e.outcome.ok && e.allSessions === false),
      ]);

      const outage = faults[0] as Fault;
      const duringOutage = running.ledger.filter(
        (e) => !e.outcome.ok && e.startedAt >= outage.from && e.endedAt <= outage.to,
      );
      const report = await auditRun(cluster, running, databaseUrl, faults);

      // Every call during the outage that failed for the outage said so: UNAVAILABLE, never INTERNAL.
      const storageRefusals = duringOutage.filter(
        (e) => !e.outcome.ok && e.outcome.reason === "STORAGE_UNAVAILABLE",
      );
      expect(storageRefusals.length).toBeGreaterThan(0);
      expect(
        storageRefusals.every((e) => !e.outcome.ok && e.outcome.code === Code.Unavailable),
      ).toBe(true);
      // The load reached every rule the audit checks, and signed sessions out.
      expect(
        running.ledger.some((e) => e.rpc === "SignOut" && e.outcome.ok && !e.allSessions),
      ).toBe(true);
      const reasons = new Set(running.ledger.map((e) => (e.outcome.ok ? "OK" : e.outcome.reason)));
      expect([...reasons]).toEqual(
        expect.arrayContaining(["OK", "OTP_MISMATCH", "OTP_LOCKED", "OTP_ALREADY_USED"]),
      );
      expect(report.total, `audit found violations:\n${formatAudit(report, faults)}`).toBe(0);
    });
  });
}
