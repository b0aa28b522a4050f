import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { writeKeySetFile } from "../support/access-token-keys.js";
import { createAuthClient, detailsOf } from "../support/clients.js";
import { codeFromConsole, type ServiceProcess, startService } from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";

// Logins against two instances while their database fails over, and what was acknowledged: the
// failover suites (postgres-failover, pg-auto-failover) check every acknowledged session, used
// code and counted request against the new primary.

/** One instance of the service under load. */
export interface LoadTarget {
  readonly service: ServiceProcess;
  readonly baseUrl: string;
}

/** A login a client was told succeeded: its code verified and its session token handed out. */
export interface AcknowledgedLogin {
  readonly email: string;
  readonly code: string;
  readonly sessionToken: string;
  readonly at: number;
}

/** An answer that is neither success nor "storage unavailable" nor a transport failure. */
export interface WrongAnswer {
  readonly call: string;
  readonly instance: number;
  readonly code: string;
  readonly reason: string | undefined;
  readonly message: string;
}

export interface LoginLoad {
  readonly logins: AcknowledgedLogin[];
  /** Codes issued per email that the client was told about (RequestOtp succeeded). */
  readonly issued: Map<string, number>;
  readonly wrong: WrongAnswer[];
  /** When each instance last answered a call with success (ms). */
  readonly lastSuccess: number[];
  stop(): Promise<void>;
}

const CALL = { timeoutMs: 5_000 };

/** How soon after a promotion every instance must answer again (the bound). */
export const RECOVERY_MS = 15_000;
/** The instances' OTP_REQUEST_LIMIT per hour: the load asks at most twice per email. */
export const REQUEST_LIMIT = 3;

/**
 * `workers` loops of: a fresh email, then at most two rounds of RequestOtp on one instance and
 * VerifyOtp with its code on the other; any failure moves the worker to a fresh email. Two
 * requests per email stay under a 3/1h limit even when an unacknowledged one did count, so the
 * only right answers are success and UNAVAILABLE (STORAGE_UNAVAILABLE, or none for a transport
 * error); anything else is recorded as wrong.
 */
export function startLoginLoad(targets: readonly LoadTarget[], workers: number): LoginLoad {
  const clients = targets.map((target) => createAuthClient("grpc", target.baseUrl));
  const logins: AcknowledgedLogin[] = [];
  const issued = new Map<string, number>();
  const wrong: WrongAnswer[] = [];
  const lastSuccess = targets.map(() => 0);
  let stopped = false;
  let emails = 0;

  /** Runs a call on instance `i`: its answer, or undefined when it failed as it may. */
  const attempt = async <T>(name: string, i: number, call: () => Promise<T>) => {
    try {
      const answer = await call();
      lastSuccess[i] = Date.now();
      return answer;
    } catch (error) {
      const failure = ConnectError.from(error);
      const reason = detailsOf(failure).errorInfo?.reason;
      if (
        failure.code !== Code.Unavailable ||
        (reason !== undefined && reason !== "STORAGE_UNAVAILABLE")
      ) {
        wrong.push({
          call: name,
          instance: i,
          code: Code[failure.code],
          reason,
          message: failure.rawMessage,
        });
      }
      return undefined;
    }
  };

  const worker = async (w: number) => {
    while (!stopped) {
      const email = `failover-${w}-${emails++}@example.com`;
      for (let round = 0; round < 2 && !stopped; round++) {
        const on = (w + round) % targets.length;
        const other = (on + 1) % targets.length;
        const request = await attempt("RequestOtp", on, () =>
          (clients[on] as (typeof clients)[number]).requestOtp({ email }, CALL),
        );
        if (request === undefined) {
          break;
        }
        issued.set(email, (issued.get(email) ?? 0) + 1);
        const code = await codeFromConsole((targets[on] as LoadTarget).service, request.otpId);
        const verified = await attempt("VerifyOtp", other, () =>
          (clients[other] as (typeof clients)[number]).verifyOtp({ email, otp: code }, CALL),
        );
        if (verified === undefined) {
          break;
        }
        logins.push({ email, code, sessionToken: verified.sessionToken, at: Date.now() });
      }
    }
  };

  const running = Array.from({ length: workers }, (_, w) => worker(w));
  return {
    logins,
    issued,
    wrong,
    lastSuccess,
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** Two service processes on `databaseUrl` (and `env`), with a 3/1h request limit per email. */
export async function startInstances(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<LoadTarget[]> {
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
        ...env,
      });
      return { service, baseUrl: `http://127.0.0.1:${port}` };
    }),
  );
}

/** Retries `call` while it answers UNAVAILABLE (the service may still be finding the primary). */
export async function settled<T>(call: () => Promise<T>): Promise<T | ConnectError> {
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

/**
 * How long after `promotedAt` each instance first answered a call with success (what the load
 * sees), waiting up to RECOVERY_MS for each; a number at or above RECOVERY_MS means it did not.
 */
export async function recoveries(load: LoginLoad, promotedAt: number): Promise<number[]> {
  return Promise.all(
    load.lastSuccess.map(async (_last, i) => {
      while ((load.lastSuccess[i] ?? 0) <= promotedAt && Date.now() - promotedAt < RECOVERY_MS) {
        await sleep(50);
      }
      const last = load.lastSuccess[i] ?? 0;
      return last > promotedAt ? last - promotedAt : RECOVERY_MS;
    }),
  );
}

/**
 * Acknowledged logins whose session is no longer live, or whose code verifies again, after the
 * failover (asked alternately of each instance), as words for a diff: empty when none was lost.
 */
export async function lostLogins(
  targets: readonly LoadTarget[],
  logins: readonly AcknowledgedLogin[],
) {
  const states = await Promise.all(
    logins.map((login, i) => stateOf(targets[i % targets.length] as LoadTarget, login)),
  );
  return states.filter(
    (state) => state.session !== "live=true" || state.codeAgain === "VERIFIED AGAIN",
  );
}

/**
 * Emails whose acknowledged RequestOtps (`issued`) no longer all count against the limit after
 * the failover: the next request must leave at most REQUEST_LIMIT - issued - 1.
 */
export async function undercountedLimits(
  target: LoadTarget,
  issued: ReadonlyMap<string, number>,
): Promise<string[]> {
  const undercounted: string[] = [];
  for (const [email, count] of issued) {
    const remaining = await remainingFor(target, email);
    if (typeof remaining === "number" && remaining > REQUEST_LIMIT - count - 1) {
      undercounted.push(`${email}: ${count} acknowledged, ${remaining} remaining after`);
    }
  }
  return undercounted;
}

/** What a login acknowledged before the failover looks like after it, as words for a diff. */
export async function stateOf(target: LoadTarget, login: AcknowledgedLogin) {
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
export async function remainingFor(target: LoadTarget, email: string): Promise<number | string> {
  const client = createAuthClient("grpc", target.baseUrl);
  const answer = await settled(() => client.requestOtp({ email }));
  return answer instanceof ConnectError
    ? (detailsOf(answer).errorInfo?.reason ?? Code[answer.code])
    : answer.remainingRequests;
}

/** What /readyz says of the database when DATABASE_URL lists several hosts. */
export interface Readiness {
  readonly status: string;
  readonly database: {
    readonly hosts: string[];
    readonly primary: string | null;
    readonly lastFailover: { from: string; to: string; at: string } | null;
  };
}

export async function readiness(target: LoadTarget): Promise<{ status: number; body: Readiness }> {
  const response = await fetch(`${target.baseUrl}/readyz`);
  return { status: response.status, body: (await response.json()) as Readiness };
}

/** /readyz once it answers 200 (the health check pings every 2 seconds), or its last answer. */
export async function readyAgain(target: LoadTarget) {
  const deadline = Date.now() + 5_000;
  let ready = await readiness(target);
  while (ready.status !== 200 && Date.now() < deadline) {
    await sleep(100);
    ready = await readiness(target);
  }
  return ready;
}
