import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, postgresUser } from "./postgres-server.js";
import { childrenOf, findReplicationBinaries, queryRows } from "./replicated-postgres.js";

/**
 * A pg_auto_failover formation (Debian's postgresql-15-auto-failover): a monitor and two
 * PostgreSQL nodes, each run by its own `pg_autoctl` keeper, throw-away, on free ports. The keepers
 * set up streaming replication themselves (synchronous, pg_auto_failover's default with one
 * standby) and, when the primary dies, the monitor has the standby promoted: the test does not.
 * The monitor's health checks are shortened from pg_auto_failover's defaults (a failure noticed
 * in seconds rather than half a minute). pg_autoctl refuses to run as root: as root, it runs as
 * the `postgres` user.
 */
export interface AutoFailoverFormation {
  /** The nodes' PostgreSQL ports, the first one primary at the start. */
  readonly ports: readonly [number, number];
  /** Both nodes in DATABASE_URL's libpq syntax, `target_session_attrs=read-write`. */
  multiHostUrl(database: string): string;
  /** SIGKILLs node `index`'s keeper and its PostgreSQL: a machine that dies. */
  kill(index: 0 | 1): void;
  /** Waits until the monitor reports node `index` as primary (a promotion done); patience in ms. */
  primaryIs(index: 0 | 1, patienceMs: number): Promise<void>;
  destroy(): Promise<void>;
}

/** pg_autoctl (PG_AUTOCTL, else Debian's) and its version; throws naming the package when missing. */
export function findPgAutoctl(): { binary: string; version: string } {
  const configured = process.env.PG_AUTOCTL;
  const binary = configured || "/usr/bin/pg_autoctl";
  if (!existsSync(binary)) {
    throw new Error(
      configured
        ? `PG_AUTOCTL=${configured} names no file`
        : `pg_autoctl not found at ${binary}: apt-get install postgresql-15-auto-failover (or set PG_AUTOCTL to its binary)`,
    );
  }
  const banner = execFileSync(binary, ["--version"], { stdio: "pipe" }).toString();
  return { binary, version: /pg_autoctl version (\S+)/.exec(banner)?.[1] ?? "unknown" };
}

// Health checks every second, a node unhealthy after 2 s without a report, and the primary's
// demotion given up after 5 s: pg_auto_failover's defaults take about 30 s to fail over.
const MONITOR_SETTINGS = {
  "pgautofailover.health_check_period": 1_000,
  "pgautofailover.health_check_timeout": 1_000,
  "pgautofailover.health_check_max_retries": 1,
  "pgautofailover.health_check_retry_delay": 500,
  "pgautofailover.node_considered_unhealthy_timeout": 2_000,
  "pgautofailover.primary_demote_timeout": 5_000,
  "pgautofailover.startup_grace_period": 2_000,
};

/** Starts a monitor, then a primary node, then a standby node, and waits until both are in place. */
export async function startAutoFailover(): Promise<AutoFailoverFormation> {
  const { binary } = findPgAutoctl();
  const bin = findReplicationBinaries();
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-autofailover-"));
  chmodSync(dir, 0o755);
  const user = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (user !== undefined) {
    chownSync(dir, user.uid, user.gid);
  }
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_DATA_HOME: join(dir, "data"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    PG_CONFIG: join(bin, "pg_config"),
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    // pg_autoctl reaches its own PostgreSQL over TCP: the socket directory is Debian's otherwise.
    PGHOST: "127.0.0.1",
  };
  const keepers: { proc: ChildProcess; pgdata: string; log: string[] }[] = [];
  const keep = (args: string[], pgdata: string) => {
    // Each keeper leads a process group: its services and PostgreSQL die with it.
    const proc = spawn(binary, [...args, "--pgdata", pgdata, "--run"], {
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      ...user,
    });
    const log: string[] = [];
    proc.stdout?.setEncoding("utf8").on("data", (chunk: string) => log.push(chunk));
    proc.stderr?.setEncoding("utf8").on("data", (chunk: string) => log.push(chunk));
    keepers.push({ proc, pgdata, log });
  };
  const killKeeper = (index: number) => {
    const keeper = keepers[index];
    if (keeper?.proc.pid === undefined) {
      return;
    }
    // PostgreSQL's backends leave the group: they go one by one, after their postmaster.
    const postmaster = readPostmasterPid(keeper.pgdata);
    const backends = postmaster === undefined ? [] : childrenOf(postmaster);
    for (const target of [-keeper.proc.pid, ...(postmaster ? [postmaster] : []), ...backends]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  const destroy = async () => {
    for (let index = keepers.length - 1; index >= 0; index--) {
      killKeeper(index);
    }
    // The backends of a killed postmaster end by themselves; give them a moment to let go.
    await new Promise((resolve) => setTimeout(resolve, 200));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const monitorPort = await freePort();
    const monitorUrl = `postgres://postgres@127.0.0.1:${monitorPort}/pg_auto_failover`;
    keep(
      [
        "create",
        "monitor",
        "--pgport",
        String(monitorPort),
        "--hostname",
        "127.0.0.1",
        "--auth",
        "trust",
        "--no-ssl",
      ],
      join(dir, "monitor"),
    );
    await until(
      async () =>
        (await queryRows(monitorUrl, "SELECT 1 FROM pgautofailover.formation")).length > 0,
      "the pg_auto_failover monitor",
      keepers,
    );
    for (const [name, value] of Object.entries(MONITOR_SETTINGS)) {
      await queryRows(monitorUrl, `ALTER SYSTEM SET ${name} = ${value}`);
    }
    await queryRows(monitorUrl, "SELECT pg_reload_conf()");

    const ports: [number, number] = [await freePort(), await freePort()];
    const states = async () =>
      (
        await queryRows(
          monitorUrl,
          "SELECT nodeport, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid",
        )
      ).map((row) => `${row.nodeport}:${row.reportedstate}/${row.goalstate}`);
    for (const [index, port] of ports.entries()) {
      keep(
        [
          "create",
          "postgres",
          "--pgport",
          String(port),
          "--hostname",
          "127.0.0.1",
          "--name",
          `node${index + 1}`,
          "--auth",
          "trust",
          "--no-ssl",
          "--monitor",
          `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`,
        ],
        join(dir, `node${index + 1}`),
      );
      // One at a time: the first to register becomes the primary.
      const wanted =
        index === 0
          ? [`${port}:single/single`]
          : [`${ports[0]}:primary/primary`, `${port}:secondary/secondary`];
      await until(
        async () => JSON.stringify(await states()) === JSON.stringify(wanted),
        `node${index + 1} of pg_auto_failover`,
        keepers,
      );
    }

    return {
      ports,
      multiHostUrl: (database) =>
        `postgres://postgres@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/${database}?target_session_attrs=read-write`,
      kill: (index) => killKeeper(index + 1),
      async primaryIs(index, patienceMs) {
        await until(
          async () =>
            (await states()).includes(`${ports[index]}:primary/primary`) ||
            (await states()).includes(`${ports[index]}:wait_primary/wait_primary`),
          `node${index + 1} to be promoted`,
          keepers,
          patienceMs,
        );
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

function readPostmasterPid(pgdata: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(pgdata, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function until(
  check: () => Promise<boolean>,
  what: string,
  keepers: readonly { log: string[] }[],
  patienceMs = 60_000,
) {
  const deadline = Date.now() + patienceMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      const logs = keepers.map((keeper) => keeper.log.join("").slice(-3_000)).join("\n---\n");
      throw new Error(`timed out waiting for ${what}; pg_autoctl said:\n${logs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
