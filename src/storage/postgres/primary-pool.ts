import pg from "pg";
import type { DatabaseHost, HostList } from "./host-list.js";
import { checkConnection, probeHost } from "./host-probe.js";
import type { StatementPool } from "./query.js";
import { isUnavailable } from "./storage-errors.js";

/** Which host of DATABASE_URL's list takes the service's calls, for readiness and metrics. */
export interface PrimaryWatch {
  /** Every host of the list, `host:port`, in its order. */
  readonly hosts: readonly string[];
  /** The host calls go to now; null while none is known to accept writes. */
  primary(): string | null;
  /** The last time calls moved from one host to another, or null if they never did. */
  lastFailover(): Failover | null;
}

/** Calls moved from `from` to `to` at `at` (epoch milliseconds), when this instance found `to`. */
export interface Failover {
  readonly from: string;
  readonly to: string;
  readonly at: number;
}

/** A pool on whichever host of a list accepts writes now, that follows the primary when it moves. */
export interface PrimaryPool extends StatementPool, PrimaryWatch {
  /**
   * Runs `step` on the primary's pool (for the migrations, which need a client of their own), as
   * `query` runs a statement: rejecting with NoPrimaryError while there is none.
   */
  run<T>(step: (pool: pg.Pool) => Promise<T>): Promise<T>;
}

/**
 * No host of the list accepts writes now. SQLSTATE 08001, as libpq's own "could not connect", so
 * that it reads as unavailable; `causes` are the errors of the hosts that could not be asked (a
 * refused login among them tells start-up to stop rather than wait).
 */
export class NoPrimaryError extends Error {
  override readonly name = "NoPrimaryError";
  readonly code = "08001";
  readonly causes: readonly Error[];

  constructor(message: string, options: { readonly causes: readonly Error[] }) {
    super(message);
    this.causes = options.causes;
  }
}

// The first retries come quickly (a promotion is often seconds away); later ones at most every
// two seconds, so that a promoted standby is found within one round of it.
const backoffMs = (attempt: number) => Math.min(250 * 2 ** attempt, 2_000);

/**
 * A pool of `settings` on the host of `list` that takes writes (as its target_session_attrs says),
 * found by probing every host, preferring the one in use and then the list's order. When a
 * statement fails as unavailable (connection lost, server shutting down, read-only: SQLSTATE
 * 25006), the hosts are probed again, with backoff until one qualifies; new calls meanwhile fail
 * at once with NoPrimaryError (or wait for a probe round already under way). Each new connection
 * checks its server still takes writes, so a host that came back as a standby is never read from.
 * A move to another host is logged and reported to `onMove`; the old host's pool is ended.
 */
export function createPrimaryPool(
  list: HostList,
  settings: pg.PoolConfig,
  log: (line: string) => void,
  onMove: (failover: Failover) => void = () => {},
): PrimaryPool {
  let inUse: { readonly host: DatabaseHost; readonly pool: pg.Pool } | null = null;
  let lastPrimary: string | null = null;
  let lastFailover: Failover | null = null;
  let searching = false;
  /** The probe round under way, if any: true when it found a host that qualifies. */
  let round: Promise<boolean> | null = null;
  let closed = false;
  let wake: (() => void) | null = null;
  /** Why no host qualified in the last round, for the log and NoPrimaryError. */
  let lastReport = "";
  let lastErrors: Error[] = [];

  const openPool = (host: DatabaseHost) => {
    const pool = new pg.Pool({
      ...settings,
      connectionString: host.url,
      onConnect: async (client) => {
        await checkConnection(client, list.targetSessionAttrs);
        await settings.onConnect?.(client);
      },
    });
    // An idle client whose connection drops emits here; the next query gets a new connection.
    pool.on("error", () => {});
    return pool;
  };

  /** Probes every host at once; moves calls to the one that qualifies, or to none. */
  const probeRound = async (): Promise<boolean> => {
    const verdicts = await Promise.all(
      list.hosts.map((host) => probeHost(host, list.targetSessionAttrs, settings)),
    );
    const usable = list.hosts.filter((_host, index) => verdicts[index] === undefined);
    const chosen = usable.find((host) => host === inUse?.host) ?? usable[0];
    if (closed) {
      return true;
    }
    if (chosen === undefined) {
      const report = list.hosts
        .map((host, i) => {
          const verdict = verdicts[i];
          return `${host.name}: ${verdict instanceof Error ? verdict.message : verdict}`;
        })
        .join("; ");
      if (report !== lastReport) {
        log(`no database host accepts writes now (${report}); trying again`);
        lastReport = report;
      }
      lastErrors = verdicts.filter((verdict) => verdict instanceof Error);
      retire();
      return false;
    }
    lastReport = "";
    lastErrors = [];
    if (chosen !== inUse?.host) {
      retire();
      inUse = { host: chosen, pool: openPool(chosen) };
      if (lastPrimary !== null && lastPrimary !== chosen.name) {
        lastFailover = { from: lastPrimary, to: chosen.name, at: Date.now() };
        log(`database primary is now ${chosen.name} (was ${lastPrimary})`);
        onMove(lastFailover);
      } else {
        log(`database primary is ${chosen.name}`);
      }
      lastPrimary = chosen.name;
    }
    return true;
  };

  const retire = () => {
    const old = inUse;
    inUse = null;
    // Statements still running on it finish (or fail) first.
    old?.pool.end().catch(() => {});
  };

  const search = async () => {
    searching = true;
    try {
      for (let attempt = 0; !closed; attempt++) {
        round = probeRound();
        const found = await round;
        round = null;
        if (found) {
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs(attempt));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
      }
    } finally {
      searching = false;
    }
  };

  /** A statement on `pool` failed with `error`: if it may mean the primary is gone, look again. */
  const suspect = (pool: pg.Pool, error: unknown) => {
    if (searching || closed || inUse?.pool !== pool || !isUnavailable(error)) {
      return;
    }
    log(`database host ${inUse.host.name} failed (${(error as Error).message}); probing the hosts`);
    void search();
  };

  const current = async (): Promise<pg.Pool> => {
    if (inUse === null && round !== null) {
      // A round under way may find the primary within a connection timeout: worth the wait.
      await round;
    }
    if (inUse === null) {
      throw new NoPrimaryError(`no host of DATABASE_URL accepts writes now (${lastReport})`, {
        causes: lastErrors,
      });
    }
    return inUse.pool;
  };

  const run = async <T>(step: (pool: pg.Pool) => Promise<T>): Promise<T> => {
    const pool = await current();
    try {
      return await step(pool);
    } catch (error) {
      suspect(pool, error);
      throw error;
    }
  };

  void search();

  return {
    hosts: list.hosts.map((host) => host.name),
    primary: () => inUse?.host.name ?? null,
    lastFailover: () => lastFailover,
    run,
    query: (config) => run((pool) => pool.query(config)),
    connect: () => run((pool) => pool.connect()),
    async end() {
      closed = true;
      wake?.();
      await round;
      const last = inUse;
      inUse = null;
      await last?.pool.end();
    },
  };
}
