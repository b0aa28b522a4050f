import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { processCpuSeconds } from "./proc-cpu.js";

/**
 * A throw-away PostgreSQL server for tests: its own data directory, port and socket directory,
 * started from the machine's PostgreSQL binaries (PG_BIN, or the newest
 * /usr/lib/postgresql/<version>/bin). initdb refuses to run as root, so as root the server runs as
 * the `postgres` user. Anything that goes wrong throws: a suite that needs PostgreSQL fails
 * rather than skips.
 */
export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** Starts the server again on the same data and port after `stop`. */
  start(): Promise<void>;
  /** Stops the server (fast shutdown), keeping its data. */
  stop(): Promise<void>;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
  /** Freezes every server process (SIGSTOP): connections stay open but nothing answers. */
  freeze(): void;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
  /** CPU seconds (user + system) the server's processes have used so far, exited ones included. */
  cpuSeconds(): number;
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = findBinaries();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-pg-"));
  const data = join(dir, "data");
  // As root, the server's processes run as `postgres` (spawned with its uid, so signals reach
  // the server itself rather than a wrapper).
  let user: { uid: number; gid: number } | Record<string, never> = {};
  if (asRoot) {
    try {
      user = { uid: idOf("-u"), gid: idOf("-g") };
    } catch {
      throw new Error("running as root, but there is no `postgres` user to run PostgreSQL as");
    }
    chownSync(dir, user.uid, user.gid);
  }
  const runAs = (command: string, args: string[]) => ({ file: command, args, options: user });
  const initdb = runAs(join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "--encoding=UTF8",
    "--locale=C",
  ]);
  execFileSync(initdb.file, initdb.args, { stdio: "pipe", ...initdb.options });
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async () => {
    const postgres = runAs(join(bin, "postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=300",
    ]);
    const proc = spawn(postgres.file, postgres.args, {
      stdio: ["ignore", "ignore", "pipe"],
      ...postgres.options,
    });
    child = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) {
        throw new Error(`PostgreSQL exited with ${proc.exitCode} while starting:\n${stderr}`);
      }
      if (await accepts(port)) {
        return;
      }
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`PostgreSQL did not accept connections within 20s:\n${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGINT");
    await exited;
  };

  // PostgreSQL's backends put themselves in process groups of their own, so the postmaster and
  // each of its children are signalled one by one.
  const processes = () => {
    const pid = (child as ChildProcess | null)?.pid;
    if (pid === undefined) {
      throw new Error("PostgreSQL is not running");
    }
    const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)])
      .toString()
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((childPid) => childPid > 0);
    return { pid, children };
  };
  const signalGroup = (signal: NodeJS.Signals) => {
    const { pid, children } = processes();
    for (const target of [pid, ...children]) {
      process.kill(target, signal);
    }
  };

  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    freeze: () => signalGroup("SIGSTOP"),
    thaw: () => signalGroup("SIGCONT"),
    cpuSeconds() {
      const { pid, children } = processes();
      // The postmaster's count of exited children holds the backends that have ended.
      return children.reduce(
        (sum, child) => sum + processCpuSeconds(child),
        processCpuSeconds(pid, { exited: true }),
      );
    },
  };
}

/** Creates a fresh, empty database on `server` and returns its URL. */
export async function createDatabase(serverUrl: string): Promise<string> {
  const name = `otp_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function findBinaries(): string {
  if (process.env.PG_BIN) {
    return process.env.PG_BIN;
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(
      "no PostgreSQL server binaries: install postgresql (Debian) or set PG_BIN to a directory with initdb and postgres",
    );
  }
  return join(root, versions[0], "bin");
}

async function accepts(port: number): Promise<boolean> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export function idOf(flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, "postgres"]).toString().trim());
}
