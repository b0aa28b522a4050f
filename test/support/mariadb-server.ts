import { type ChildProcess, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import type { DatabaseServer } from "./database-engine.js";
import { freePort } from "./postgres-server.js";
import { processCpuSeconds } from "./proc-cpu.js";
import { spawnServer, stopServer } from "./server-process.js";

/**
 * A throw-away MariaDB server for tests (Debian's `mariadb-server`, or MARIADBD): its own data
 * directory, port and socket, made by mariadb-install-db. The service reaches it as the user
 * `otp` (password `otp-password`, every privilege), over TCP, as it would a real server; root
 * (no password) is only for the harness, over the socket. As root, the server runs as the `mysql`
 * user that the Debian package creates; it is one process, so freezing it is one SIGSTOP. Its
 * `url` is mysql://otp:otp-password@127.0.0.1:<port>/ (no database: createMysqlDatabase adds one).
 * Anything that goes wrong throws: a suite that needs MariaDB fails rather than skips.
 */
export type MariadbServer = DatabaseServer;

export const MARIADB_USER = { user: "otp", password: "otp-password" } as const;

/**
 * The MariaDB server binary to run (MARIADBD, else Debian's /usr/sbin/mariadbd), the
 * mariadb-install-db beside it on PATH, and its version. Throws naming the Debian package when
 * there is none: npm has no MariaDB server.
 */
export function findMariadb(): { binary: string; installDb: string; version: string } {
  const configured = process.env.MARIADBD;
  const binary = configured || "/usr/sbin/mariadbd";
  if (!existsSync(binary)) {
    throw new Error(
      configured
        ? `MARIADBD=${configured} names no file`
        : `mariadbd not found at ${binary}: apt-get install mariadb-server (or set MARIADBD to its binary)`,
    );
  }
  const installDb = "/usr/bin/mariadb-install-db";
  if (!existsSync(installDb)) {
    throw new Error(`${installDb} not found: apt-get install mariadb-server`);
  }
  const banner = execFileSync(binary, ["--version"], { stdio: "pipe" }).toString();
  return { binary, installDb, version: /Ver (\S+)/.exec(banner)?.[1] ?? "unknown" };
}

// Durability is not what these tests are about: no flush per commit, small logs and buffers.
const SERVER_OPTIONS = [
  "--innodb-flush-log-at-trx-commit=0",
  "--innodb-log-file-size=16M",
  "--innodb-buffer-pool-size=64M",
  "--skip-log-bin",
  "--max-connections=300",
];

export async function startMariadbServer(): Promise<MariadbServer> {
  const { binary, installDb, version } = findMariadb();
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-mariadb-"));
  const data = join(dir, "data");
  const socket = join(dir, "mariadb.sock");
  let user: { uid: number; gid: number } | Record<string, never> = {};
  if (process.getuid?.() === 0) {
    user = mysqlUser();
    chownSync(dir, user.uid, user.gid);
  }
  try {
    execFileSync(
      installDb,
      [
        "--no-defaults",
        `--datadir=${data}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        ...SERVER_OPTIONS,
      ],
      { stdio: "pipe", cwd: dir, ...user },
    );
  } catch (error) {
    const output = `${(error as { stdout?: Buffer }).stdout ?? ""}${(error as { stderr?: Buffer }).stderr ?? ""}`;
    throw new Error(`${installDb} failed: ${(error as Error).message}\n${output}`);
  }
  const port = await freePort();
  let child: ChildProcess | null = null;

  const start = async () => {
    child = await spawnServer(
      "MariaDB",
      {
        file: binary,
        args: [
          "--no-defaults",
          `--datadir=${data}`,
          `--port=${port}`,
          "--bind-address=127.0.0.1",
          `--socket=${socket}`,
          `--pid-file=${join(dir, "mariadbd.pid")}`,
          ...SERVER_OPTIONS,
        ],
        options: { cwd: dir, ...user },
      },
      () => accepts(socket),
      30_000,
    );
  };

  const stop = async () => {
    const proc = child;
    child = null;
    await stopServer(proc, "SIGTERM");
  };

  const pid = () => {
    const running = (child as ChildProcess | null)?.pid;
    if (running === undefined) {
      throw new Error("MariaDB is not running");
    }
    return running;
  };

  await start();
  try {
    const root = await mysql.createConnection({ socketPath: socket, user: "root" });
    try {
      const { user: name, password } = MARIADB_USER;
      await root.query(`CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'`);
      await root.query(`GRANT ALL PRIVILEGES ON *.* TO '${name}'@'%'`);
    } finally {
      await root.end();
    }
  } catch (error) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `mysql://${MARIADB_USER.user}:${MARIADB_USER.password}@127.0.0.1:${port}/`,
    port,
    description: `MariaDB ${version} (${binary})`,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    freeze: () => process.kill(pid(), "SIGSTOP"),
    thaw: () => process.kill(pid(), "SIGCONT"),
    cpuSeconds: () => processCpuSeconds(pid()),
  };
}

/** Creates a fresh, empty database on the server at `serverUrl` and returns its URL. */
export async function createMysqlDatabase(serverUrl: string): Promise<string> {
  const name = `otp_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const connection = await mysql.createConnection({ uri: serverUrl });
  try {
    await connection.query(`CREATE DATABASE ${name}`);
  } finally {
    await connection.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Empties every table the migrations create, so that a test starts from nothing. The one list of
 * them, as postgres-server.ts's truncateAll is for PostgreSQL.
 */
export async function truncateAllMysql(connection: mysql.Connection | mysql.Pool): Promise<void> {
  for (const table of [
    "otp_users",
    "otp_codes",
    "otp_attempts",
    "otp_failures",
    "otp_buckets",
    "otp_slots",
    "otp_idempotency",
    "otp_sessions",
    "otp_audit_events",
  ]) {
    await connection.query(`DELETE FROM ${table}`);
  }
}

async function accepts(socket: string): Promise<boolean> {
  if (!existsSync(socket)) {
    return false;
  }
  try {
    const connection = await mysql.createConnection({ socketPath: socket, user: "root" });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/** The uid and gid of the `mysql` user, which Debian's mariadb-server package creates. */
function mysqlUser(): { uid: number; gid: number } {
  const idOf = (flag: "-u" | "-g") =>
    Number(execFileSync("id", [flag, "mysql"], { stdio: "pipe" }).toString().trim());
  try {
    return { uid: idOf("-u"), gid: idOf("-g") };
  } catch (error) {
    throw new Error(
      `running as root, and there is no \`mysql\` user to run MariaDB as (apt-get install mariadb-server creates it): ${(error as Error).message}`,
    );
  }
}
