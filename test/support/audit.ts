import { Code } from "@connectrpc/connect";

// An audit of what clients were told under load and faults, checked against itself and against
// the database: the invariants a fault must never break. Each check returns the violations it
// found, as sentences; an empty list means the invariant held. Used by the bounded fault test and
// by `npm run soak`.

/** What one call answered, as the client saw it. Times are the client's wall clock (ms). */
export interface LedgerEntry {
  readonly rpc: "RequestOtp" | "VerifyOtp" | "GetStatus" | "SignOut";
  readonly email: string;
  readonly purpose: string;
  /** Which service instance the call went to. */
  readonly instance: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** RequestOtp: the id issued. VerifyOtp: the id of the code that was sent. */
  readonly otpId?: string;
  /** VerifyOtp: the otp_id the attempt named (bound); absent for unbound verification. */
  readonly boundTo?: string;
  readonly outcome: Outcome;
  /** RequestOtp: the idempotency-key sent, if any. */
  readonly idempotencyKey?: string;
  /** RequestOtp: an OK answer to a key answered OK before (a replay issues no code). */
  readonly replay?: boolean | undefined;
  /** VerifyOtp: the session an OK answer started. SignOut: the session of the token sent. */
  readonly sessionId?: string;
  /** SignOut: every session it ends if acknowledged (with all_sessions, each of the email's sessions answered before it started). */
  readonly sessionIds?: readonly string[];
  /** SignOut: sent with all_sessions. */
  readonly allSessions?: boolean;
}

export type Outcome =
  | {
      readonly ok: true;
      /** RequestOtp: the server's issue time (expires_at - ttl). */
      readonly issuedAt?: number;
      readonly authenticated?: boolean;
      readonly authenticatedAt?: number;
    }
  | {
      readonly ok: false;
      readonly code: Code;
      /** google.rpc.ErrorInfo reason; absent for transport failures. */
      readonly reason?: string;
      readonly retryAfterSeconds?: number;
      /** The error's message, for the report. */
      readonly message?: string;
    };

/** A fault injected during the run: the database (`instance` absent) or one instance. */
export interface Fault {
  readonly kind: "db-stop" | "db-freeze" | "kill";
  readonly instance?: number;
  readonly from: number;
  /** When the fault was lifted (database up again, instance listening again). */
  readonly to: number;
}

export interface AuditPolicy {
  readonly requestLimit: { readonly count: number; readonly windowMs: number };
  readonly maxAttempts: number;
  readonly lockoutMs: number;
  /** How long after a fault is lifted its errors may still be seen. */
  readonly recoveryMs: number;
}

/** What the database holds afterwards, read by the engine's `readState` (database-engine.ts). */
export interface DatabaseState {
  /** The database's clock when read (ms). */
  readonly now: number;
  /** Live slots of each `email:` bucket, by email. */
  readonly slots: ReadonlyMap<string, readonly { id: string; exp: number }[]>;
  /** otp_users.authenticated_at (ms) by email; null when never authenticated. */
  readonly authenticatedAt: ReadonlyMap<string, number | null>;
  /** The run's emails' rows of otp_sessions, by session_id. */
  readonly sessions: ReadonlyMap<string, { readonly email: string; readonly revoked: boolean }>;
  /** The run's emails' rows of otp_audit_events (session_id is '' for events of no session). */
  readonly events: readonly {
    readonly type: string;
    readonly email: string;
    readonly sessionId: string;
  }[];
}

/** Final GetStatus answers, by email; or, by session token, by session id. */
export type FinalStatuses = ReadonlyMap<string, boolean>;

const isOk = (entry: LedgerEntry) => entry.outcome.ok;
/** An OK answer that issued or used a code: replays of an idempotency key are neither. */
const isOkIssue = (entry: LedgerEntry) => entry.outcome.ok && entry.replay !== true;
const reasonOf = (entry: LedgerEntry) => (entry.outcome.ok ? undefined : entry.outcome.reason);
const key = (entry: LedgerEntry) => `${entry.email} ${entry.purpose}`;

function groupBy<T>(items: readonly T[], by: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(by(item)) ?? [];
    group.push(item);
    groups.set(by(item), group);
  }
  return groups;
}

/** No otp id was verified successfully twice (across all instances). */
export function checkNoDoubleVerification(ledger: readonly LedgerEntry[]): string[] {
  const verified = ledger.filter((e) => e.rpc === "VerifyOtp" && isOk(e) && e.otpId);
  return [...groupBy(verified, (e) => e.otpId as string)]
    .filter(([, wins]) => wins.length > 1)
    .map(([otpId, wins]) => `otp ${otpId} verified ${wins.length} times`);
}

/**
 * No email was issued more codes than the limit in any rolling window, by the server's issue
 * times in the OK RequestOtp answers.
 */
export function checkRequestLimit(ledger: readonly LedgerEntry[], policy: AuditPolicy): string[] {
  const { count, windowMs } = policy.requestLimit;
  const issued = ledger.filter((e) => e.rpc === "RequestOtp" && isOkIssue(e));
  const violations: string[] = [];
  for (const [email, answers] of groupBy(issued, (e) => e.email)) {
    const times = answers
      .map((e) => (e.outcome.ok ? (e.outcome.issuedAt ?? 0) : 0))
      .sort((a, b) => a - b);
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter(
        (t) => t >= (times[i] as number) && t < (times[i] as number) + windowMs,
      ).length;
      if (inWindow > count) {
        violations.push(
          `${email}: ${inWindow} codes issued within ${windowMs} ms (limit ${count})`,
        );
        break;
      }
    }
  }
  return violations;
}

/** Every OK answer to one idempotency key of an email carries the same otp id. */
export function checkIdempotentReplays(ledger: readonly LedgerEntry[]): string[] {
  const keyed = ledger.filter(
    (e) => e.rpc === "RequestOtp" && isOk(e) && e.idempotencyKey !== undefined,
  );
  return [...groupBy(keyed, (e) => `${e.email} ${e.idempotencyKey}`)]
    .filter(([, answers]) => new Set(answers.map((e) => e.otpId)).size > 1)
    .map(([pair, answers]) => `${pair}: answered with ${answers.map((e) => e.otpId).join(", ")}`);
}

/**
 * otp_slots agrees with the ledger: no bucket holds more live slots than the limit, and every
 * code the ledger says was issued, and whose window has not passed, holds a slot.
 */
export function checkSlotsAgree(
  ledger: readonly LedgerEntry[],
  database: DatabaseState,
  policy: AuditPolicy,
): string[] {
  const violations: string[] = [];
  for (const [email, slots] of database.slots) {
    if (slots.length > policy.requestLimit.count) {
      violations.push(`${email}: ${slots.length} live slots in otp_slots`);
    }
  }
  for (const entry of ledger) {
    if (entry.rpc !== "RequestOtp" || !entry.outcome.ok || entry.otpId === undefined) {
      continue;
    }
    const issuedAt = entry.outcome.issuedAt ?? 0;
    // A margin either side of expiry: the slot may lapse between reading the clock and the rows.
    if (issuedAt + policy.requestLimit.windowMs > database.now + 1_000) {
      const slots = database.slots.get(entry.email) ?? [];
      if (!slots.some((slot) => slot.id === entry.otpId)) {
        violations.push(`${entry.email}: issued otp ${entry.otpId} holds no slot in otp_slots`);
      }
    }
  }
  return violations;
}

/**
 * No unbound VerifyOtp succeeded for an (email, purpose) while unbound verification was locked
 * (a request, and a verification bound to its otp_id, are served during such a lock: SPEC
 * "Abuse"). A lock is certainly in force from the end of the answer that announced it until its
 * start plus the announced wait, less the second retry-after was rounded up by.
 */
export function checkLocksRespected(ledger: readonly LedgerEntry[]): string[] {
  const violations: string[] = [];
  for (const [pair, entries] of groupBy(
    ledger.filter((e) => e.rpc === "VerifyOtp" && e.boundTo === undefined),
    key,
  )) {
    const locks = entries.flatMap((e) =>
      !e.outcome.ok && e.outcome.reason === "OTP_LOCKED" && e.outcome.retryAfterSeconds
        ? [{ from: e.endedAt, to: e.startedAt + (e.outcome.retryAfterSeconds - 1) * 1000 }]
        : [],
    );
    // A replay is served even while locked (SPEC: the replay comes before the lock check).
    for (const entry of entries.filter(isOkIssue)) {
      const lock = locks.find((l) => entry.startedAt >= l.from && entry.endedAt <= l.to);
      if (lock) {
        violations.push(`${pair}: ${entry.rpc} succeeded at ${entry.startedAt} inside a lock`);
      }
    }
  }
  return violations;
}

/**
 * A verification bound to an otp_id never succeeds with another request's code (SPEC "Abuse":
 * it is judged against that request's code alone).
 */
export function checkBindingHeld(ledger: readonly LedgerEntry[]): string[] {
  return ledger
    .filter(
      (e) => e.rpc === "VerifyOtp" && isOk(e) && e.boundTo !== undefined && e.otpId !== e.boundTo,
    )
    .map(
      (e) => `${key(e)}: the code of ${e.otpId} verified bound to ${e.boundTo} at ${e.startedAt}`,
    );
}

/**
 * No lockout was skipped: unbound, for an (email, purpose), at most maxAttempts-1 wrong codes
 * answer OTP_MISMATCH before a success, a lock, or the failure count lapsing; bound, at most
 * maxAttempts-1 for one code, ever. Assumes the calls for one (email, purpose) do not overlap
 * (the mixed load sends them one at a time); calls whose outcome the client never heard can only
 * make the count lower, never raise a false alarm.
 */
export function checkLockoutNotSkipped(
  ledger: readonly LedgerEntry[],
  policy: AuditPolicy,
): string[] {
  const violations: string[] = [];
  for (const [code, entries] of groupBy(
    ledger.filter((e) => e.rpc === "VerifyOtp" && e.boundTo !== undefined),
    (e) => `${key(e)} ${e.boundTo}`,
  )) {
    const mismatches = entries.filter((e) => reasonOf(e) === "OTP_MISMATCH").length;
    if (mismatches >= policy.maxAttempts) {
      violations.push(`${code}: ${mismatches} wrong codes answered OTP_MISMATCH for one code`);
    }
  }
  const verifies = ledger.filter((e) => e.rpc === "VerifyOtp" && e.boundTo === undefined);
  for (const [pair, entries] of groupBy(verifies, key)) {
    let streak = 0;
    let last: LedgerEntry | undefined;
    for (const entry of [...entries].sort((a, b) => a.endedAt - b.endedAt)) {
      const reason = reasonOf(entry);
      if (isOk(entry) || reason === "OTP_LOCKED") {
        streak = 0;
      } else if (reason === "OTP_MISMATCH") {
        // The count lapses lockoutMs after the last failure: reset whenever that may have happened.
        if (last !== undefined && entry.endedAt - last.startedAt > policy.lockoutMs) {
          streak = 0;
        }
        streak++;
        last = entry;
        if (streak >= policy.maxAttempts) {
          violations.push(`${pair}: wrong code #${streak} answered OTP_MISMATCH, not OTP_LOCKED`);
          streak = 0;
        }
      }
    }
  }
  return violations;
}

/**
 * Whether a SignOut of the ledger (answered or not: an unheard one may have been applied) may
 * have ended the session `verify` started: one sent with its token, or an all_sessions one of
 * its email that ended after the verification started.
 */
function mayHaveEnded(ledger: readonly LedgerEntry[], verify: LedgerEntry): boolean {
  return ledger.some(
    (e) =>
      e.rpc === "SignOut" &&
      e.email === verify.email &&
      ((verify.sessionId !== undefined && e.sessionId === verify.sessionId) ||
        (e.allSessions === true && verify.startedAt < e.endedAt)),
  );
}

/**
 * No authenticated state was lost: every email with an OK VerifyOtp whose session no SignOut may
 * have ended is authenticated per the final GetStatus, and otp_users.authenticated_at is at least
 * its latest authenticated_at (a sign-out leaves it).
 */
export function checkAuthenticationKept(
  ledger: readonly LedgerEntry[],
  statuses: FinalStatuses,
  database: DatabaseState,
): string[] {
  const violations: string[] = [];
  const verified = ledger.filter((e) => e.rpc === "VerifyOtp" && isOk(e));
  for (const [email, wins] of groupBy(verified, (e) => e.email)) {
    const latest = Math.max(
      ...wins.map((e) => (e.outcome.ok ? (e.outcome.authenticatedAt ?? 0) : 0)),
    );
    const live = wins.some((e) => !mayHaveEnded(ledger, e));
    if (live && statuses.get(email) !== true) {
      violations.push(`${email}: verified, but GetStatus says not authenticated`);
    }
    const stored = database.authenticatedAt.get(email);
    if (stored === undefined || stored === null || stored < latest) {
      violations.push(
        `${email}: verified at ${latest}, but otp_users.authenticated_at is ${stored ?? "empty"}`,
      );
    }
  }
  return violations;
}

/**
 * Every acknowledged revoke holds: each session an OK SignOut ended is not authenticated per the
 * final GetStatus by its token (`sessionStatuses`, by session id). With all_sessions that is every
 * session of the email answered before the SignOut started, when the token's own session was
 * still live, i.e. no earlier SignOut may have ended it (a dead token ends only itself: SPEC).
 */
export function checkRevokesHeld(
  ledger: readonly LedgerEntry[],
  sessionStatuses: FinalStatuses,
): string[] {
  const violations: string[] = [];
  for (const signOut of ledger.filter((e) => e.rpc === "SignOut" && isOk(e))) {
    const own = ledger.find((e) => e.rpc === "VerifyOtp" && e.sessionId === signOut.sessionId);
    const endedBefore = (earlier: LedgerEntry) =>
      earlier !== signOut &&
      earlier.rpc === "SignOut" &&
      earlier.email === signOut.email &&
      earlier.startedAt < signOut.endedAt &&
      (earlier.sessionId === signOut.sessionId ||
        (earlier.allSessions === true && own !== undefined && own.startedAt < earlier.endedAt));
    const ended =
      signOut.allSessions === true && !ledger.some(endedBefore)
        ? (signOut.sessionIds ?? [])
        : [signOut.sessionId];
    for (const sessionId of ended) {
      const status = sessionStatuses.get(sessionId ?? "");
      if (status !== false) {
        violations.push(
          `${signOut.email}: session ${sessionId} signed out at ${signOut.startedAt}${signOut.allSessions ? " (all_sessions)" : ""}, but GetStatus by its token says ${status === undefined ? "nothing (never asked)" : "authenticated"}`,
        );
      }
    }
  }
  return violations;
}

/**
 * Every audit event matches a change that happened, and every change has its event (each is
 * written by the step that makes the change). Sessions: every session event names a session
 * otp_sessions holds, of the event's email; every session there has exactly one session.created,
 * and one session.revoked if it is revoked, none if not; every session an OK VerifyOtp answered is
 * there. Codes: an event carries no otp id, so per email the otp.requested events are counted: at
 * least the codes OK answers issued, at most the RequestOtp calls not answered as a replay (a
 * call whose answer was lost may have issued one).
 */
export function checkAuditEventsMatch(
  ledger: readonly LedgerEntry[],
  database: DatabaseState,
): string[] {
  const violations: string[] = [];
  const sessionEvents = database.events.filter((e) => e.type.startsWith("session."));
  for (const event of sessionEvents) {
    const session = database.sessions.get(event.sessionId);
    if (session === undefined || session.email !== event.email) {
      violations.push(
        `${event.email}: ${event.type} names session ${event.sessionId}, not one of its sessions in otp_sessions`,
      );
    }
  }
  const count = (type: string, sessionId: string) =>
    sessionEvents.filter((e) => e.type === type && e.sessionId === sessionId).length;
  for (const [sessionId, session] of database.sessions) {
    const created = count("session.created", sessionId);
    const revoked = count("session.revoked", sessionId);
    if (created !== 1) {
      violations.push(
        `${session.email}: session ${sessionId} has ${created} session.created events`,
      );
    }
    if (revoked !== (session.revoked ? 1 : 0)) {
      violations.push(
        `${session.email}: session ${sessionId}, ${session.revoked ? "revoked" : "live"}, has ${revoked} session.revoked events`,
      );
    }
  }
  for (const verify of ledger.filter((e) => e.rpc === "VerifyOtp" && isOk(e) && e.sessionId)) {
    if (!database.sessions.has(verify.sessionId as string)) {
      violations.push(
        `${verify.email}: session ${verify.sessionId} answered at ${verify.startedAt} is not in otp_sessions`,
      );
    }
  }
  const requests = groupBy(
    ledger.filter((e) => e.rpc === "RequestOtp" && !(isOk(e) && e.replay === true)),
    (e) => e.email,
  );
  const requested = groupBy(
    database.events.filter((e) => e.type === "otp.requested"),
    (e) => e.email,
  );
  for (const email of new Set([...requests.keys(), ...requested.keys()])) {
    const calls = requests.get(email) ?? [];
    const issued = calls.filter(isOk).length;
    const events = requested.get(email)?.length ?? 0;
    if (events < issued || events > calls.length) {
      violations.push(
        `${email}: ${events} otp.requested events for ${issued} codes issued in ${calls.length} calls`,
      );
    }
  }
  return violations;
}

// Refusals the rules give under load; anything else must be explained by a fault.
const RULE_REASONS = new Set([
  "OTP_REQUEST_LIMIT",
  "OTP_LOCKED",
  "OTP_NOT_FOUND",
  "OTP_EXPIRED",
  "OTP_ALREADY_USED",
  "OTP_MISMATCH",
]);

// A client's own report of a broken connection: connect-node says UNAVAILABLE, ABORTED or
// INTERNAL depending on where the socket broke, and names the socket error; the service's own
// INTERNAL never names one.
const SOCKET_FAILURE =
  /\b(EPIPE|ECONNRESET|ECONNREFUSED)\b|socket hang up|other side closed|GOAWAY|stream closed/i;

function isConnectionFailure(outcome: { code: Code; message?: string }): boolean {
  return (
    outcome.code === Code.Unavailable ||
    (outcome.code !== Code.DeadlineExceeded && SOCKET_FAILURE.test(outcome.message ?? ""))
  );
}

/**
 * Every failure is a rule's refusal, UNAVAILABLE/STORAGE_UNAVAILABLE while the database was
 * faulted (or recovering), or a transport failure from an instance while it was killed. Never
 * INTERNAL, never a client deadline.
 */
export function checkErrorsExplained(
  ledger: readonly LedgerEntry[],
  faults: readonly Fault[],
  policy: AuditPolicy,
): string[] {
  const during = (entry: LedgerEntry, fault: Fault) =>
    entry.endedAt >= fault.from && entry.startedAt <= fault.to + policy.recoveryMs;
  const violations: string[] = [];
  for (const entry of ledger) {
    if (entry.outcome.ok || RULE_REASONS.has(entry.outcome.reason ?? "")) {
      continue;
    }
    const { code, reason } = entry.outcome;
    const explained =
      heldByKilledCall(entry, ledger, faults, during) ||
      (reason === "STORAGE_UNAVAILABLE"
        ? code === Code.Unavailable && faults.some((f) => f.kind !== "kill" && during(entry, f))
        : reason === undefined &&
          isConnectionFailure(entry.outcome) &&
          faults.some(
            (f) => f.kind === "kill" && f.instance === entry.instance && during(entry, f),
          ));
    if (!explained) {
      violations.push(
        `${entry.rpc} ${entry.email} on instance ${entry.instance} at ${entry.startedAt}-${entry.endedAt}: ${Code[code]} ${reason ?? "(no ErrorInfo)"} ${entry.outcome.message ?? ""}`,
      );
    }
  }
  return violations;
}

/**
 * A retry of an idempotency key whose earlier attempt was cut by a killed instance: the dead
 * holder's claim stands until its lease lapses (30 s on PostgreSQL), so the retry waits, and a
 * client deadline shorter than that ends it as DEADLINE_EXCEEDED.
 */
function heldByKilledCall(
  entry: LedgerEntry,
  ledger: readonly LedgerEntry[],
  faults: readonly Fault[],
  during: (entry: LedgerEntry, fault: Fault) => boolean,
): boolean {
  if (entry.outcome.ok || entry.outcome.code !== Code.DeadlineExceeded) {
    return false;
  }
  return ledger.some(
    (earlier) =>
      earlier.idempotencyKey !== undefined &&
      earlier.idempotencyKey === entry.idempotencyKey &&
      earlier.email === entry.email &&
      earlier.startedAt < entry.startedAt &&
      !earlier.outcome.ok &&
      isConnectionFailure(earlier.outcome) &&
      faults.some(
        (f) => f.kind === "kill" && f.instance === earlier.instance && during(earlier, f),
      ),
  );
}

/** After each fault was lifted, every instance answered OK again within recoveryMs. */
export function checkRecovered(
  ledger: readonly LedgerEntry[],
  faults: readonly Fault[],
  instances: number,
  policy: AuditPolicy,
): string[] {
  const violations: string[] = [];
  for (const fault of faults) {
    for (let instance = 0; instance < instances; instance++) {
      const recovered = ledger.some(
        (e) =>
          e.instance === instance &&
          isOk(e) &&
          e.startedAt >= fault.to &&
          e.endedAt <= fault.to + policy.recoveryMs,
      );
      if (!recovered) {
        violations.push(
          `instance ${instance} answered no OK within ${policy.recoveryMs} ms after the ${fault.kind} at ${fault.from}`,
        );
      }
    }
  }
  return violations;
}

export interface AuditReport {
  readonly violations: Readonly<Record<string, string[]>>;
  readonly total: number;
}

/** Runs every check. */
export function audit(input: {
  ledger: readonly LedgerEntry[];
  faults: readonly Fault[];
  instances: number;
  statuses: FinalStatuses;
  /** Final GetStatus answers by session token, by session id. */
  sessionStatuses: FinalStatuses;
  database: DatabaseState;
  policy: AuditPolicy;
}): AuditReport {
  const { ledger, faults, instances, statuses, sessionStatuses, database, policy } = input;
  const violations = {
    "no code verified twice": checkNoDoubleVerification(ledger),
    "request limit held": checkRequestLimit(ledger, policy),
    "idempotent retries replayed": checkIdempotentReplays(ledger),
    "otp_slots agrees": checkSlotsAgree(ledger, database, policy),
    "no success while locked": checkLocksRespected(ledger),
    "a bound code is judged alone": checkBindingHeld(ledger),
    "no lockout skipped": checkLockoutNotSkipped(ledger, policy),
    "authenticated state kept": checkAuthenticationKept(ledger, statuses, database),
    "acknowledged revokes held": checkRevokesHeld(ledger, sessionStatuses),
    "audit events match changes": checkAuditEventsMatch(ledger, database),
    "every error explained": checkErrorsExplained(ledger, faults, policy),
    "recovered after each fault": checkRecovered(ledger, faults, instances, policy),
  };
  const total = Object.values(violations).reduce((sum, list) => sum + list.length, 0);
  return { violations, total };
}

/** One line per check with its count, then each violation. */
export function formatAudit(report: AuditReport, faults: readonly Fault[] = []): string {
  return Object.entries(report.violations)
    .flatMap(([check, list]) => [
      `  ${list.length === 0 ? "ok  " : "FAIL"} ${check}: ${list.length} violations`,
      ...list.slice(0, 10).map((v) => `         ${v}`),
    ])
    .concat(faults.map((f) => `  fault ${f.kind} ${f.instance ?? "db"}: ${f.from}-${f.to}`))
    .join("\n");
}
