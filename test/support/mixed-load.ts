import { randomInt, randomUUID } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AuthService } from "../../gen/auth/v1/auth_pb.js";
import type { CodeReceiver } from "../bench/code-receiver.js";
import type { LedgerEntry, Outcome } from "./audit.js";
import { createAuthClient, detailsOf, type Protocol } from "./clients.js";
import { serviceAuthorization } from "./service-token.js";

// A mixed load for fault tests and the soak: workers that each own some emails and, one call at
// a time per email, request codes, verify right and wrong ones (now and then the right one on
// both instances at once) and ask for status, on whichever instance comes next. Every answer goes
// into a ledger for the audit. Codes are learned from the webhook sender's deliveries.
//
// The mix, per step: 25% RequestOtp (two in five with an idempotency-key, and half of those
// retried with the same key on the other instance, as a client does whose answer was lost), 30%
// VerifyOtp with the right code, 30% with a wrong one, 7% SignOut of a session a VerifyOtp
// answered (half of them with all_sessions; GetStatus instead while the email has none), the rest
// GetStatus. An email whose RequestOtp is refused for its limit or a lock rests for the
// retry-after it was given, as a client that honours it does: asked again at once, it turned most
// of the load into refused RequestOtps (89% of the calls of a soak, against 43% now).

const PURPOSE = "login";
// A client deadline far above the service's own 2-second storage timeouts: hitting it is a finding.
const CALL_TIMEOUT_MS = 6_000;

export interface MixedLoad {
  readonly ledger: LedgerEntry[];
  readonly emails: readonly string[];
  /** The token of every session an OK VerifyOtp answered, by session id. */
  readonly sessionTokens: ReadonlyMap<string, string>;
  /** Points instance `index` at a new base URL (after a restart on another port). */
  retarget(index: number, baseUrl: string): void;
  /** Resolves with the next answer matching `wanted` from a call that starts after now. */
  next(wanted: (entry: LedgerEntry) => boolean): Promise<LedgerEntry>;
  /** Stops the workers and resolves once each finished its call in flight. */
  stop(): Promise<void>;
}

interface Target {
  client: Client<typeof AuthService>;
}

interface EmailState {
  email: string;
  otpId?: string;
  code?: string;
  /** The code before the current one and its id: another request's code, for bound attempts. */
  previous?: { readonly otpId: string; readonly code: string };
  /** Not called before this time (ms): RequestOtp's retry-after. */
  restUntil?: number;
  /** The sessions OK VerifyOtps answered that no SignOut was sent for yet: live ones. */
  sessions: { readonly sessionId: string; readonly token: string }[];
}

export function startMixedLoad(options: {
  baseUrls: readonly string[];
  receiver: CodeReceiver;
  workers: number;
  emailsPerWorker: number;
  runId?: string;
}): MixedLoad {
  const run = options.runId ?? Date.now().toString(36);
  const protocolFor = (i: number): Protocol => (i % 2 === 0 ? "grpc" : "connect-json-h1");
  const targets: Target[] = options.baseUrls.map((url, i) => ({
    client: createAuthClient(protocolFor(i), url),
  }));
  const ledger: LedgerEntry[] = [];
  const waiters: {
    after: number;
    wanted: (entry: LedgerEntry) => boolean;
    wake: (entry: LedgerEntry) => void;
  }[] = [];
  let stopped = false;
  let turn = 0;

  const record = (entry: LedgerEntry) => {
    ledger.push(entry);
    for (const waiter of waiters.filter((w) => entry.startedAt >= w.after && w.wanted(entry))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.wake(entry);
    }
  };

  /** Calls `rpc` on `instance` and records what it answered. */
  const call = async <T>(
    rpc: LedgerEntry["rpc"],
    state: EmailState,
    instance: number,
    send: (client: Client<typeof AuthService>) => Promise<T>,
    okOutcome: (response: T) => Outcome,
    sentOtpId?: string,
    idempotencyKey?: string,
    boundTo?: string,
    signOut: Pick<LedgerEntry, "sessionId" | "sessionIds" | "allSessions"> = {},
  ): Promise<T | undefined> => {
    const startedAt = Date.now();
    let response: T | undefined;
    let outcome: Outcome;
    let otpId = sentOtpId;
    let sessionId = signOut.sessionId;
    try {
      response = await send((targets[instance] as Target).client);
      outcome = okOutcome(response);
      otpId ??= (response as { otpId?: string }).otpId;
      sessionId ??= (response as { sessionId?: string }).sessionId || undefined;
    } catch (error) {
      const refusal = ConnectError.from(error);
      const { errorInfo, retryInfo } = detailsOf(refusal);
      outcome = {
        ok: false,
        code: refusal.code,
        reason: errorInfo?.reason,
        retryAfterSeconds:
          retryInfo?.retryDelay === undefined ? undefined : Number(retryInfo.retryDelay.seconds),
        message: refusal.rawMessage,
      };
    }
    record({
      rpc,
      email: state.email,
      purpose: PURPOSE,
      instance,
      startedAt,
      endedAt: Date.now(),
      otpId,
      ...(boundTo === undefined ? {} : { boundTo }),
      ...signOut,
      ...(sessionId === undefined ? {} : { sessionId }),
      outcome,
      ...(idempotencyKey === undefined
        ? {}
        : {
            idempotencyKey,
            replay:
              outcome.ok && answeredKeys.has(`${state.email} ${idempotencyKey}`) ? true : undefined,
          }),
    });
    return response;
  };

  /** The otp id each idempotency key was first answered with, by `email key`. */
  const answeredKeys = new Map<string, string>();

  const requestOtp = async (state: EmailState, instance: number, idempotencyKey?: string) => {
    const headers =
      idempotencyKey === undefined ? undefined : { "idempotency-key": idempotencyKey };
    const issued = await call(
      "RequestOtp",
      state,
      instance,
      (client) =>
        client.requestOtp({ email: state.email }, { timeoutMs: CALL_TIMEOUT_MS, headers }),
      (res) => {
        const expires =
          Number(res.expiresAt?.seconds ?? 0n) * 1000 + (res.expiresAt?.nanos ?? 0) / 1e6;
        const ttl = Number(res.ttl?.seconds ?? 0n) * 1000 + (res.ttl?.nanos ?? 0) / 1e6;
        return { ok: true, issuedAt: expires - ttl };
      },
      undefined,
      idempotencyKey,
    );
    if (idempotencyKey !== undefined && issued !== undefined) {
      const first = answeredKeys.get(`${state.email} ${idempotencyKey}`);
      if (first !== undefined) {
        // The same answer again: no new code, so the receiver has nothing new either.
        return;
      }
      answeredKeys.set(`${state.email} ${idempotencyKey}`, issued.otpId);
    }
    if (issued !== undefined) {
      if (state.otpId !== undefined && state.code !== undefined) {
        state.previous = { otpId: state.otpId, code: state.code };
      }
      // Delivery completes before the answer, so the receiver already holds the code.
      state.otpId = issued.otpId;
      state.code = options.receiver.take(issued.otpId);
    }
  };

  const sessionTokens = new Map<string, string>();

  /** `otpId` is the id of the code sent; `boundTo`, the otp_id the attempt names (unbound if absent). */
  const verifyOtp = async (
    state: EmailState,
    instance: number,
    otp: string,
    otpId?: string,
    boundTo?: string,
  ) => {
    const verified = await call(
      "VerifyOtp",
      state,
      instance,
      (client) =>
        client.verifyOtp(
          { email: state.email, otp, ...(boundTo === undefined ? {} : { otpId: boundTo }) },
          { timeoutMs: CALL_TIMEOUT_MS },
        ),
      (res) => ({
        ok: true,
        authenticated: res.authenticated,
        authenticatedAt:
          Number(res.authenticatedAt?.seconds ?? 0n) * 1000 +
          (res.authenticatedAt?.nanos ?? 0) / 1e6,
      }),
      otpId,
      undefined,
      boundTo,
    );
    if (verified !== undefined && verified.sessionId !== "") {
      sessionTokens.set(verified.sessionId, verified.sessionToken);
      state.sessions.push({ sessionId: verified.sessionId, token: verified.sessionToken });
    }
  };

  /**
   * Signs out one live session of the email, with all_sessions one time in two. Its session
   * (or, with all_sessions, every one of the email's) is then forgotten: it may have ended, so it
   * is never sent again, and an all_sessions SignOut is always sent with a live token.
   */
  const signOutOne = async (state: EmailState, instance: number) => {
    const session = state.sessions[randomInt(state.sessions.length)] as {
      sessionId: string;
      token: string;
    };
    const allSessions = randomInt(2) === 0;
    const startedAt = Date.now();
    const sessionIds = allSessions
      ? ledger
          .filter(
            (e) =>
              e.rpc === "VerifyOtp" &&
              e.email === state.email &&
              e.outcome.ok &&
              e.sessionId !== undefined &&
              e.endedAt < startedAt,
          )
          .map((e) => e.sessionId as string)
      : [session.sessionId];
    state.sessions = allSessions ? [] : state.sessions.filter((s) => s !== session);
    await call(
      "SignOut",
      state,
      instance,
      (client) =>
        client.signOut(
          { sessionToken: session.token, allSessions },
          { timeoutMs: CALL_TIMEOUT_MS },
        ),
      () => ({ ok: true }),
      undefined,
      undefined,
      undefined,
      { sessionId: session.sessionId, sessionIds, allSessions },
    );
  };

  const getStatus = (state: EmailState, instance: number) =>
    call(
      "GetStatus",
      state,
      instance,
      (client) =>
        client.getStatus(
          { email: state.email },
          { timeoutMs: CALL_TIMEOUT_MS, headers: serviceAuthorization },
        ),
      (res) => ({ ok: true, authenticated: res.authenticated }),
    );

  const wrongCode = (code: string | undefined) => {
    const length = code?.length ?? 6;
    let wrong = code;
    while (wrong === code) {
      wrong = String(randomInt(10 ** length)).padStart(length, "0");
    }
    return wrong as string;
  };

  const step = async (state: EmailState) => {
    const instance = turn++ % targets.length;
    const dice = randomInt(100);
    if (state.code === undefined || dice < 25) {
      if (dice >= 10) {
        await requestOtp(state, instance);
        return;
      }
      const idempotencyKey = randomUUID();
      await requestOtp(state, instance, idempotencyKey);
      if (dice < 5) {
        await requestOtp(state, (instance + 1) % targets.length, idempotencyKey);
      }
    } else if (dice < 55) {
      const { code, otpId } = state;
      // Half of the right codes are sent bound to their request, as the login page does.
      const boundTo = dice % 4 < 2 ? otpId : undefined;
      if (dice < 30) {
        // The right code on every instance at once: exactly one may win.
        await Promise.all(targets.map((_, i) => verifyOtp(state, i, code, otpId, boundTo)));
      } else {
        await verifyOtp(state, instance, code, otpId, boundTo);
      }
      // Used (or refused): a real client asks for a new code next, mostly.
      if (dice % 2 === 0) {
        state.code = undefined;
      }
    } else if (dice < 80) {
      await verifyOtp(state, instance, wrongCode(state.code), undefined, undefined);
    } else if (dice < 85) {
      // Another request's code, bound to this request: it must never verify.
      const { previous, otpId } = state;
      if (previous !== undefined && previous.code !== state.code) {
        await verifyOtp(state, instance, previous.code, previous.otpId, otpId);
      } else {
        await verifyOtp(state, instance, wrongCode(state.code), undefined, otpId);
      }
    } else if (dice < 92 && state.sessions.length > 0) {
      await signOutOne(state, instance);
    } else {
      await getStatus(state, instance);
    }
  };

  const emails: string[] = [];
  const workers = Array.from({ length: options.workers }, async (_, w) => {
    const owned: EmailState[] = Array.from({ length: options.emailsPerWorker }, (_, e) => ({
      email: `w${w}-e${e}-${run}@example.com`,
      sessions: [],
    }));
    emails.push(...owned.map((s) => s.email));
    while (!stopped) {
      const now = Date.now();
      const ready = owned.filter((s) => (s.restUntil ?? 0) <= now);
      if (ready.length === 0) {
        const wake = Math.min(...owned.map((s) => s.restUntil ?? now));
        await new Promise((resolve) => setTimeout(resolve, Math.min(wake - now, 500)));
        continue;
      }
      const state = ready[randomInt(ready.length)] as EmailState;
      const before = ledger.length;
      await step(state);
      const last = ledger[ledger.length - 1];
      if (
        ledger.length > before &&
        last?.rpc === "RequestOtp" &&
        !last.outcome.ok &&
        last.outcome.retryAfterSeconds !== undefined
      ) {
        state.restUntil = Date.now() + last.outcome.retryAfterSeconds * 1000;
      }
      if (
        ledger.length > before &&
        last &&
        !last.outcome.ok &&
        last.outcome.code === Code.Unavailable
      ) {
        // Back off a little while something is down, as a client would, instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });

  return {
    ledger,
    emails,
    sessionTokens,
    retarget(index, baseUrl) {
      (targets[index] as Target).client = createAuthClient(protocolFor(index), baseUrl);
    },
    next(wanted) {
      return new Promise((wake) => waiters.push({ after: Date.now(), wanted, wake }));
    },
    async stop() {
      stopped = true;
      await Promise.all(workers);
    },
  };
}
