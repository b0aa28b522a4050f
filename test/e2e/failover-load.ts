import { Code, ConnectError } from "@connectrpc/connect";
import { createAuthClient, detailsOf } from "../support/clients.js";
import { codeFromConsole, type ServiceProcess } from "../support/service-process.js";

// Logins against two instances while their database fails over, and what was acknowledged: the
// failover suites check every acknowledged session and used code against the new primary.

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
