import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createAuthClient, detailsOf } from "../support/clients.js";
import { createDatabase } from "../support/postgres-server.js";
import {
  type ReplicatedPostgres,
  startReplicatedPostgres,
} from "../support/replicated-postgres.js";
import { killServices, startService } from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { type AcknowledgedLogin, type LoadTarget, startLoginLoad } from "./failover-load.js";

// A real primary and a streaming-replication standby (pg_basebackup -R), two service processes
// with both hosts in DATABASE_URL under login load; the primary is killed (SIGKILL, no shutdown)
// and the standby promoted, as an HA manager would. Synchronous replication: nothing acknowledged
// is lost. Asynchronous: only what the standby had replayed is kept (docs/storage.md "Failover").

const RECOVERY_MS = 15_000;
const REQUEST_LIMIT = 3;

let cluster: ReplicatedPostgres | undefined;

afterEach(async () => {
  killServices();
  await cluster?.destroy();
  cluster = undefined;
});

async function startInstances(databaseUrl: string): Promise<LoadTarget[]> {
  const keys = writeKeySetFile();
  return Promise.all(
    [0, 1].map(async () => {
      const { service, port } = await startService({
        STORAGE: "postgres",
        DATABASE_URL: databaseUrl,
        OTP_HMAC_KEY: "an-hmac-key-for-the-failover-test-0123456789",
        ACCESS_TOKEN_KEYS: keys,
        SERVICE_TOKENS: SERVICE_TOKEN,
        OTP_REQUEST_LIMIT: `${REQUEST_LIMIT}/1h`,
        OTP_IP_REQUEST_LIMIT: "off",
      });
      return { service, baseUrl: `http://127.0.0.1:${port}` };
    }),
  );
}

/** Retries `call` while it answers UNAVAILABLE (the service may still be finding the primary). */
async function settled<T>(call: () => Promise<T>): Promise<T | ConnectError> {
  for (let tries = 0; ; tries++) {
    try {
      return await call();
    } catch (error) {
      const failure = ConnectError.from(error);
      if (failure.code !== Code.Unavailable || tries > 50) {
        return failure;
      }
      await sleep(100);
    }
  }
}

/** What a login acknowledged before the failover looks like after it, as words for a diff. */
async function stateOf(target: LoadTarget, login: AcknowledgedLogin) {
  const client = createAuthClient("grpc", target.baseUrl);
  const status = await settled(() =>
    client.getStatus({ sessionToken: login.sessionToken }, asService),
  );
  const again = await settled(() => client.verifyOtp({ email: login.email, otp: login.code }));
  return {
    email: login.email,
    session: status instanceof ConnectError ? status.message : `live=${status.authenticated}`,
    codeAgain:
      again instanceof ConnectError
        ? (detailsOf(again).errorInfo?.reason ?? Code[again.code])
        : "VERIFIED AGAIN",
  };
}

/** RequestOtp's remaining count for `email` now, or the refusal's reason. */
async function remainingFor(target: LoadTarget, email: string): Promise<number | string> {
  const client = createAuthClient("grpc", target.baseUrl);
  const answer = await settled(() => client.requestOtp({ email }));
  return answer instanceof ConnectError
    ? (detailsOf(answer).errorInfo?.reason ?? Code[answer.code])
    : answer.remainingRequests;
}

/** What /readyz says of the database when DATABASE_URL lists several hosts. */
interface Readiness {
  readonly status: string;
  readonly database: {
    readonly hosts: string[];
    readonly primary: string | null;
    readonly lastFailover: { from: string; to: string; at: string } | null;
  };
}

async function readiness(target: LoadTarget): Promise<{ status: number; body: Readiness }> {
  const response = await fetch(`${target.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Readiness };
}

/** /readyz once it answers 200 (the health check pings every 2 seconds), or its last answer. */
async function readyAgain(target: LoadTarget) {
  const deadline = Date.now() + 5_000;
  let ready = await readiness(target);
  while (ready.status !== 200 && Date.now() < deadline) {
    await sleep(100);
    ready = await readiness(target);
  }
  return ready;
}

/**
 * Builds the replicated pair, runs the load on two instances, kills the primary, promotes the
 * standby, and answers what happened: the load's ledger, the moment of promotion, and the logins
 * acknowledged before `checkpoint` (all of them when synchronous; those the standby had replayed
 * when not).
 */
async function failOver(synchronous: boolean) {
  cluster = await startReplicatedPostgres({ synchronous });
  const databaseUrl = await createDatabase(cluster.primary.url);
  const database = new URL(databaseUrl).pathname.slice(1);
  const instances = await startInstances(cluster.multiHostUrl(database));
  const primaryHost = `127.0.0.1:${cluster.primary.port}`;
  const standbyHost = `127.0.0.1:${cluster.standby.port}`;
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
  const recoveredAfter = await Promise.all(
    instances.map(async (_instance, i) => {
      while ((load.lastSuccess[i] ?? 0) <= promotedAt && Date.now() - promotedAt < RECOVERY_MS) {
        await sleep(50);
      }
      return (load.lastSuccess[i] ?? 0) - promotedAt;
    }),
  );
  await sleep(500);
  await load.stop();
  console.log(
    `[failover] ${synchronous ? "synchronous" : "asynchronous"}: ${acknowledged.length} logins acknowledged before the kill; instances answered again ${recoveredAfter.join(" and ")} ms after the promotion`,
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
  it("synchronous replication: both instances recover by themselves, and nothing acknowledged is lost", {
    timeout: 90_000,
  }, async () => {
    const run = await failOver(true);
    expect(run.load.wrong).toEqual([]);
    for (const after of run.recoveredAfter) {
      expect(after).toBeGreaterThan(0);
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
      expect(Date.parse(ready.body.database.lastFailover?.at ?? "")).toBeGreaterThan(run.killedAt);
      const metrics = await (await fetch(`${instance.baseUrl}/metrics`)).text();
      expect(metrics).toContain(`otp_auth_database_primary{host="${run.standbyHost}"} 1`);
      expect(metrics).toContain(`otp_auth_database_primary{host="${run.primaryHost}"} 0`);
    }

    // Every session handed out is live, every code used stays used (checked on both instances).
    const [a, b] = run.instances as [LoadTarget, LoadTarget];
    const states = await Promise.all(
      run.acknowledged.map((login, i) => stateOf(i % 2 === 0 ? a : b, login)),
    );
    const lost = states.filter(
      (state) => state.session !== "live=true" || state.codeAgain === "VERIFIED AGAIN",
    );
    expect(lost).toEqual([]);

    // Every acknowledged code still counts against its email's limit.
    const undercounted: string[] = [];
    for (const [email, count] of run.issued) {
      const remaining = await remainingFor(a, email);
      if (typeof remaining === "number" && remaining > REQUEST_LIMIT - count - 1) {
        undercounted.push(`${email}: ${count} acknowledged, ${remaining} remaining after`);
      }
    }
    expect(undercounted).toEqual([]);
  });

  it("asynchronous replication: both instances recover, and what the standby had replayed is kept", {
    timeout: 90_000,
  }, async () => {
    const run = await failOver(false);
    expect(run.load.wrong).toEqual([]);
    for (const after of run.recoveredAfter) {
      expect(after).toBeGreaterThan(0);
      expect(after).toBeLessThan(RECOVERY_MS);
    }
    expect(run.replicated.length).toBeGreaterThan(0);
    const [a] = run.instances as [LoadTarget];
    const states = await Promise.all(run.replicated.map((login) => stateOf(a, login)));
    const lost = states.filter(
      (state) => state.session !== "live=true" || state.codeAgain === "VERIFIED AGAIN",
    );
    expect(lost).toEqual([]);
    for (const instance of run.instances) {
      expect(instance.service.child.exitCode).toBeNull();
      const ready = await readyAgain(instance);
      expect(ready.status).toBe(200);
      expect(ready.body.database.primary).toBe(run.standbyHost);
    }
  });
});
