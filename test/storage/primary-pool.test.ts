import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import { parseHostList } from "../../src/storage/postgres/host-list.js";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { openPostgres, poolSettings } from "../../src/storage/postgres/open-postgres.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createPrimaryPool, type PrimaryPool } from "../../src/storage/postgres/primary-pool.js";
import {
  freePort,
  type PostgresServer,
  postgresUser,
  startPostgresServer,
} from "../support/postgres-server.js";

// Two real PostgreSQL servers (not replicas: this is about which host calls go to) and a port
// where nothing listens. A server is made read-only as a demoted primary is, for every session at
// once: default_transaction_read_only in its configuration, reloaded. The failover system suite
// does the same with real replication and promotion.

let a: PostgresServer;
let b: PostgresServer;
let deadPort: number;
const pools: PrimaryPool[] = [];
/** Directories to delete after the file. */
const scratch: string[] = [];

const setReadOnly = async (server: PostgresServer, readOnly: boolean) => {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(
      `ALTER SYSTEM SET default_transaction_read_only = ${readOnly ? "on" : "off"}`,
    );
    await client.query("SELECT pg_reload_conf()");
  } finally {
    await client.end();
  }
  // The postmaster passes the reload on to every backend by signal: give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 200));
};

const hostOf = (server: PostgresServer) => `127.0.0.1:${server.port}`;

function poolOn(
  servers: readonly (PostgresServer | number)[],
  target = "read-write",
  parameters = "",
) {
  const hosts = servers.map((server) => (typeof server === "number" ? server : server.port));
  const url = `postgres://postgres@${hosts.map((port) => `127.0.0.1:${port}`).join(",")}/postgres?target_session_attrs=${target}${parameters}`;
  const lines: string[] = [];
  const pool = createPrimaryPool(parseHostList(url), poolSettings("none"), (line) =>
    lines.push(line),
  );
  pools.push(pool);
  return { pool, store: createPostgresStore(pool), lines };
}

/** The refusal kind a store call rejects with, or "ok". */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return error instanceof OtpError ? error.refusal.kind : String(error);
  }
}

async function eventually(check: () => Promise<string>, wanted: string, patienceMs = 10_000) {
  const deadline = Date.now() + patienceMs;
  let last = await check();
  while (last !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await check();
  }
  return last;
}

beforeAll(async () => {
  [a, b, deadPort] = await Promise.all([startPostgresServer(), startPostgresServer(), freePort()]);
  for (const server of [a, b]) {
    const pool = new pg.Pool({ connectionString: server.url });
    await migrate(pool);
    await pool.end();
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  for (const dir of scratch) {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
  await Promise.all([setReadOnly(a, false), setReadOnly(b, false)]);
});

describe("a pool on several PostgreSQL hosts (target_session_attrs=read-write)", () => {
  it("goes to the host that takes writes, past one that is down and one that is read-only", async () => {
    await setReadOnly(b, true);
    const { pool, store } = poolOn([deadPort, b, a]);
    expect(await outcome(store.purgeExpired(Date.now()))).toBe("ok");
    expect(pool.primary()).toBe(hostOf(a));
    expect(pool.lastFailover()).toBeNull();
  });

  it("when its primary turns read-only, calls answer storage_unavailable until it moves to the new one", async () => {
    const { pool, store, lines } = poolOn([a, b]);
    await setReadOnly(b, true);
    expect(await outcome(store.purgeExpired(Date.now()))).toBe("ok");
    expect(pool.primary()).toBe(hostOf(a));

    await setReadOnly(a, true);
    // A write on the demoted primary is refused (SQLSTATE 25006): "not now", never INTERNAL.
    expect(await outcome(store.purgeExpired(Date.now()))).toBe("storage_unavailable");
    await setReadOnly(b, false);
    expect(await eventually(() => outcome(store.purgeExpired(Date.now())), "ok")).toBe("ok");
    expect(pool.primary()).toBe(hostOf(b));
    expect(pool.lastFailover()).toMatchObject({ from: hostOf(a), to: hostOf(b) });
    expect(lines).toContain(`database primary is now ${hostOf(b)} (was ${hostOf(a)})`);
  });

  it("with no host taking writes, calls fail at once as storage_unavailable, then recover", async () => {
    const { pool, store } = poolOn([a, b]);
    await setReadOnly(b, true);
    expect(await outcome(store.ping())).toBe("ok");
    await setReadOnly(a, true);
    await outcome(store.purgeExpired(Date.now()));
    expect(await eventually(async () => String(pool.primary()), "null")).toBe("null");
    // Reads too: a pool with no primary reads from nowhere, rather than from a standby.
    const started = Date.now();
    expect(await outcome(store.ping())).toBe("storage_unavailable");
    expect(Date.now() - started).toBeLessThan(1_000);

    await setReadOnly(a, false);
    expect(await eventually(() => outcome(store.purgeExpired(Date.now())), "ok")).toBe("ok");
    // Back to the same host: no failover happened.
    expect(pool.primary()).toBe(hostOf(a));
    expect(pool.lastFailover()).toBeNull();
  });

  it("with target_session_attrs=primary, takes a read-only server that is not a standby", async () => {
    await setReadOnly(a, true);
    const { pool, store } = poolOn([deadPort, a], "primary");
    expect(await outcome(store.ping())).toBe("ok");
    expect(pool.primary()).toBe(hostOf(a));
  });

  it("with sslmode=verify-full, reaches the host over TLS, its certificate checked", async () => {
    const certificate = fileURLToPath(new URL("../support/tls/localhost.crt", import.meta.url));
    // PostgreSQL takes a key only if its own user owns it, readable by no one else.
    const dir = mkdtempSync(join(tmpdir(), "otp-auth-pg-tls-"));
    scratch.push(dir);
    const [crt, key] = [join(dir, "server.crt"), join(dir, "server.key")];
    copyFileSync(certificate, crt);
    copyFileSync(certificate.replace(/\.crt$/, ".key"), key);
    chmodSync(key, 0o600);
    if (process.getuid?.() === 0) {
      const { uid, gid } = postgresUser();
      for (const path of [dir, crt, key]) {
        chownSync(path, uid, gid);
      }
    }
    const admin = new pg.Client({ connectionString: b.url });
    await admin.connect();
    try {
      await admin.query(`ALTER SYSTEM SET ssl_cert_file = '${crt}'`);
      await admin.query(`ALTER SYSTEM SET ssl_key_file = '${key}'`);
      await admin.query("ALTER SYSTEM SET ssl = on");
      await admin.query("SELECT pg_reload_conf()");
    } finally {
      await admin.end();
    }
    const { pool } = poolOn(
      [deadPort, b],
      "read-write",
      `&sslmode=verify-full&sslrootcert=${certificate}`,
    );
    // The postmaster takes the new settings when it handles the reload's signal: a first probe
    // may come before, and the pool then tries again.
    const overTls = () =>
      pool
        .query<{ ssl: boolean }>({
          text: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        })
        .then(
          ({ rows }) => `ssl=${rows[0]?.ssl}`,
          (error: Error) => error.message,
        );
    expect(await eventually(overTls, "ssl=true")).toBe("ssl=true");
    expect(pool.primary()).toBe(hostOf(b));
  });

  it("start-up stops at once, naming the cause, when no host takes writes because one refused", async () => {
    const started = Date.now();
    const opening = openPostgres(
      `postgres://postgres@127.0.0.1:${deadPort},127.0.0.1:${a.port}/no_such_database?target_session_attrs=read-write`,
      "none",
    );
    await expect(opening).rejects.toThrow(/the database named in DATABASE_URL does not exist/);
    // Not the 30 seconds start-up waits for a database that is only unreachable.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
