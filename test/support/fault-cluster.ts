import type { CodeReceiver } from "../bench/code-receiver.js";
import { writeKeySetFile } from "./access-token-keys.js";
import { type AuditReport, audit, type Fault, type LedgerEntry } from "./audit.js";
import { createAuthClient } from "./clients.js";
import type { DatabaseEngine, DatabaseServer } from "./database-engine.js";
import type { MixedLoad } from "./mixed-load.js";
import { postgresEngine } from "./postgres-engine.js";
import { type ServiceProcess, startService } from "./service-process.js";
import { asService, SERVICE_TOKEN } from "./service-token.js";

// Two service processes on one database (PostgreSQL unless another engine is given), and the faults a test or the soak injects
// into them while a mixed load runs. Each fault waits for the load to show it (a refusal from the
// broken part) and, once lifted, for every instance to answer OK again: real signals, no sleeps.

/** The rules the cluster runs with, short enough that windows and locks end during a run. */
export const FAULT_POLICY = {
  requestLimit: { count: 3, windowMs: 6_000 },
  maxAttempts: 3,
  lockoutMs: 2_000,
  recoveryMs: 10_000,
} as const;

const WEBHOOK_SECRET = "a-webhook-secret-for-the-fault-tests-0123456789";

export interface Cluster {
  /** The database's engine, whose stored state the audit reads. */
  readonly engine: DatabaseEngine;
  readonly baseUrls: string[];
  readonly services: ServiceProcess[];
  /** Starts instance `index` again (on a new port) after it died. */
  restart(index: number): Promise<void>;
}

export async function startCluster(options: {
  databaseUrl: string;
  receiver: CodeReceiver;
  instances?: number;
  engine?: DatabaseEngine;
}): Promise<Cluster> {
  const engine = options.engine ?? postgresEngine;
  const env = {
    STORAGE: engine.storage,
    DATABASE_URL: options.databaseUrl,
    OTP_HMAC_KEY: "an-hmac-key-shared-by-the-fault-instances-0123456789",
    ACCESS_TOKEN_KEYS: writeKeySetFile(),
    OTP_SENDER: "webhook",
    OTP_WEBHOOK_URL: options.receiver.url,
    OTP_WEBHOOK_SECRET: WEBHOOK_SECRET,
    OTP_IP_REQUEST_LIMIT: "off",
    OTP_REQUEST_LIMIT: `${FAULT_POLICY.requestLimit.count}/${FAULT_POLICY.requestLimit.windowMs}ms`,
    // The load comes from one network: the mailbox cap as the request limit, so that the email's
    // bucket (the mailbox's, which the audit reads) holds what the limit allows.
    OTP_MAILBOX_LIMIT: `${FAULT_POLICY.requestLimit.count}/${FAULT_POLICY.requestLimit.windowMs}ms`,
    OTP_MAX_ATTEMPTS: String(FAULT_POLICY.maxAttempts),
    OTP_LOCKOUT: `${FAULT_POLICY.lockoutMs}ms`,
    LOG_LEVEL: "fatal",
    // The load and the audit look emails up as a trusted service would.
    SERVICE_TOKENS: SERVICE_TOKEN,
  };
  const started = await Promise.all(
    Array.from({ length: options.instances ?? 2 }, () => startService(env)),
  );
  const cluster: Cluster = {
    engine,
    baseUrls: started.map(({ port }) => `http://127.0.0.1:${port}`),
    services: started.map(({ service }) => service),
    async restart(index) {
      const { service, port } = await startService(env);
      cluster.services[index] = service;
      cluster.baseUrls[index] = `http://127.0.0.1:${port}`;
    },
  };
  return cluster;
}

const refusedFor = (reason: string | undefined, instance: number) => (entry: LedgerEntry) =>
  entry.instance === instance && !entry.outcome.ok && entry.outcome.reason === reason;

const okFrom = (instance: number) => (entry: LedgerEntry) =>
  entry.instance === instance && entry.outcome.ok;

async function everyInstanceAnswersOk(cluster: Cluster, load: MixedLoad): Promise<void> {
  await Promise.all(cluster.baseUrls.map((_, i) => load.next(okFrom(i))));
}

/**
 * Stops the database until every instance has answered STORAGE_UNAVAILABLE, starts it again, and
 * waits until every instance answers OK (no service restart).
 */
export async function stopDatabase(
  database: DatabaseServer,
  cluster: Cluster,
  load: MixedLoad,
): Promise<Fault> {
  const from = Date.now();
  const refused = cluster.baseUrls.map((_, i) => load.next(refusedFor("STORAGE_UNAVAILABLE", i)));
  await database.stop();
  await Promise.all(refused);
  const recovered = everyInstanceAnswersOk(cluster, load);
  await database.start();
  const to = Date.now();
  await recovered;
  return { kind: "db-stop", from, to };
}

/** Freezes the database (it holds connections but answers nothing) until every instance refuses. */
export async function freezeDatabase(
  database: DatabaseServer,
  cluster: Cluster,
  load: MixedLoad,
): Promise<Fault> {
  const from = Date.now();
  const refused = cluster.baseUrls.map((_, i) => load.next(refusedFor("STORAGE_UNAVAILABLE", i)));
  database.freeze();
  try {
    await Promise.all(refused);
  } finally {
    database.thaw();
  }
  const to = Date.now();
  await everyInstanceAnswersOk(cluster, load);
  return { kind: "db-freeze", from, to };
}

/**
 * SIGKILLs instance `index` mid-load; waits until a client saw its connection fail and the other
 * instances still answered OK; restarts it and waits until it answers OK.
 */
export async function killInstance(
  index: number,
  cluster: Cluster,
  load: MixedLoad,
): Promise<Fault> {
  const from = Date.now();
  const cut = load.next(refusedFor(undefined, index));
  const others = cluster.baseUrls.flatMap((_, i) => (i === index ? [] : [load.next(okFrom(i))]));
  const service = cluster.services[index] as ServiceProcess;
  service.child.kill("SIGKILL");
  await service.exited;
  await Promise.all([cut, ...others]);
  await cluster.restart(index);
  load.retarget(index, cluster.baseUrls[index] as string);
  const to = Date.now();
  await load.next(okFrom(index));
  return { kind: "kill", instance: index, from, to };
}

/** Stops the load, asks every email's status afresh, reads the database, and audits the run. */
export async function auditRun(
  cluster: Cluster,
  load: MixedLoad,
  databaseUrl: string,
  faults: readonly Fault[],
): Promise<AuditReport> {
  await load.stop();
  const client = createAuthClient("grpc", cluster.baseUrls[0] as string);
  const statuses = new Map<string, boolean>();
  for (const email of load.emails) {
    statuses.set(email, (await client.getStatus({ email }, asService)).authenticated);
  }
  // By token: every acknowledged SignOut must hold (checkRevokesHeld).
  const sessionStatuses = new Map<string, boolean>();
  for (const [sessionId, sessionToken] of load.sessionTokens) {
    sessionStatuses.set(sessionId, (await client.getStatus({ sessionToken })).authenticated);
  }
  return audit({
    ledger: load.ledger,
    faults,
    instances: cluster.baseUrls.length,
    statuses,
    sessionStatuses,
    database: await cluster.engine.readState(databaseUrl, load.emails),
    policy: FAULT_POLICY,
  });
}
