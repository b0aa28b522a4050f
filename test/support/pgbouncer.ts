import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseRoute } from "./database-route.js";
import { freePort, postgresUser } from "./postgres-server.js";
import { processCpuSeconds } from "./proc-cpu.js";

/**
 * A throw-away PgBouncer (Debian's `pgbouncer`, or PGBOUNCER) in front of a PostgreSQL server, in
 * transaction pooling mode and otherwise with PgBouncer's default settings: no
 * `ignore_startup_parameters`, no prepared-statement support, md5 authentication against its own
 * user list (the server's user, with the server URL's password or a made-up one). Any database
 * name is passed through to the server. PgBouncer refuses to run as root, so as root it runs as
 * the `postgres` user, like the test PostgreSQL server.
 */
export interface PgBouncer {
  /** The URL reaching the same database as `databaseUrl` (on the server) through PgBouncer. */
  urlFor(databaseUrl: string): string;
  readonly port: number;
  /** CPU seconds (user + system) PgBouncer has used so far (it is one process). */
  cpuSeconds(): number;
  /** Stops PgBouncer and deletes its files. */
  destroy(): Promise<void>;
}

/** The settings PgBouncer needs to run at all; everything else keeps its default. */
function configuration(dir: string, port: number, server: URL): string {
  return `[databases]
* = host=${server.hostname} port=${server.port || 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = md5
auth_file = ${join(dir, "userlist.txt")}
pool_mode = transaction
`;
}

/**
 * The PgBouncer to run: PGBOUNCER, else Debian's /usr/sbin/pgbouncer, and its version ("1.18.0").
 * Throws naming the Debian package when there is none: npm has no copy of PgBouncer.
 */
export function findPgBouncer(): { binary: string; version: string } {
  const configured = process.env.PGBOUNCER;
  const binary = configured || "/usr/sbin/pgbouncer";
  if (!existsSync(binary)) {
    throw new Error(
      configured
        ? `PGBOUNCER=${configured} names no file`
        : `pgbouncer not found at ${binary}: apt-get install pgbouncer (or set PGBOUNCER to its binary)`,
    );
  }
  const banner = execFileSync(binary, ["--version"], { stdio: "pipe" }).toString();
  return { binary, version: /^PgBouncer (\S+)/.exec(banner)?.[1] ?? "unknown" };
}

/** Starts PgBouncer in front of the PostgreSQL server at `serverUrl`. */
export async function startPgBouncer(serverUrl: string): Promise<PgBouncer> {
  const { binary } = findPgBouncer();
  const dir = mkdtempSync(join(tmpdir(), "otp-auth-pgbouncer-"));
  const server = new URL(serverUrl);
  const username = decodeURIComponent(server.username) || "postgres";
  // PgBouncer logs in to the server with the password it checks clients against.
  const password = decodeURIComponent(server.password) || "pooled-password";
  const port = await freePort();
  writeFileSync(join(dir, "userlist.txt"), `"${username}" "${password}"\n`);
  writeFileSync(join(dir, "pgbouncer.ini"), configuration(dir, port, server));
  let user: { uid: number; gid: number } | Record<string, never> = {};
  if (process.getuid?.() === 0) {
    user = postgresUser();
    for (const file of ["", "userlist.txt", "pgbouncer.ini"]) {
      chownSync(join(dir, file), user.uid, user.gid);
    }
  }
  const child: ChildProcess = spawn(binary, [join(dir, "pgbouncer.ini")], {
    stdio: ["ignore", "ignore", "pipe"],
    ...user,
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null) {
      throw new Error(`PgBouncer exited with ${child.exitCode} while starting:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`PgBouncer did not listen within 10s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    cpuSeconds: () => processCpuSeconds(child.pid as number),
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      url.username = encodeURIComponent(username);
      url.password = encodeURIComponent(password);
      return url.toString();
    },
    async destroy() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        // SIGINT: PgBouncer's "safe shutdown" waits for clients; SIGTERM closes them at once.
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A service reaches the database through a PgBouncer of its own, as above. */
export const throughPgBouncer: DatabaseRoute = {
  name: "through PgBouncer (transaction pooling)",
  async open(serverUrl) {
    const bouncer = await startPgBouncer(serverUrl);
    return {
      env: (databaseUrl) => ({
        DATABASE_URL: bouncer.urlFor(databaseUrl),
        DATABASE_POOLER: "transaction",
      }),
      close: () => bouncer.destroy(),
    };
  },
};

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
