// A reference model of SPEC.md's rules, written from the contract and the docs' documented
// choices, not from src/domain: nothing here is imported from the service. The model tests
// (test/model/*.test.ts) run random command sequences against the real service and compare each
// answer with what this model predicts.

/** The numbers the model and the service under test are both configured with. */
export const MODEL_POLICY = {
  codeLength: 6,
  codeTtlMs: 5 * 60_000,
  maxAttempts: 3,
  lockoutMs: 10 * 60_000,
  requestLimit: { count: 3, windowMs: 60 * 60_000 },
  mailboxLimit: { count: 4, windowMs: 60 * 60_000 },
  // Small, so that random sequences reach the account's cap.
  accountMaxFailures: 5,
  failureWindowMs: 60 * 60_000,
  verifyBinding: "optional",
  ipRequestLimit: { count: 2, windowMs: 15 * 60_000 },
  sessionTtlMs: 24 * 60 * 60_000,
  // Within reach of the clock's random moves, so that sessions go idle (and stay live when used).
  sessionIdleTtlMs: 30 * 60_000,
  accessTokenTtlMs: 15 * 60_000,
  idempotencyTtlMs: 24 * 60 * 60_000,
  statusByEmail: "closed",
  auditRetentionMs: 90 * 24 * 60 * 60_000,
} as const;

/** The service token the model's GetStatus by email presents: it asks as a trusted service. */
export const MODEL_SERVICE_TOKEN = "model-service-token-0123456789abcdefghijklmnop";

const P = MODEL_POLICY;

/** What an answer looks like, for both the model and the service (compared with toEqual). */
export type Outcome =
  | {
      readonly ok: "issued";
      readonly expiresAt: number;
      readonly ttlMs: number;
      readonly remainingRequests: number;
      readonly codeLength: number;
    }
  | {
      readonly ok: "verified";
      readonly authenticatedAt: number;
      readonly sessionExpiresAt: number;
      readonly accessTokenExpiresAt: number;
    }
  | { readonly ok: "status"; readonly authenticated: boolean; readonly authenticatedAt?: number }
  | {
      readonly ok: "session";
      readonly authenticatedAt: number;
      /** The account as it was named: one of the two, the other empty. */
      readonly email: string;
      readonly externalId: string;
      readonly purpose: string;
      readonly sessionId: string;
      readonly userId: string;
      readonly sessionExpiresAt: number;
      readonly accessTokenExpiresAt: number;
    }
  | { readonly ok: "signed-out" }
  | { readonly ok: "sessions"; readonly sessions: readonly ListedSession[] }
  | { readonly refused: "invalid_argument"; readonly field: string }
  | { readonly refused: "request_limit" | "ip_limit"; readonly retryAfterMs: number }
  | {
      readonly refused: "locked";
      readonly retryAfterMs: number;
      /** What the lock holds shut (SPEC "Abuse"): one code, the unbound lane, the account. */
      readonly scope: "code" | "unbound" | "account";
    }
  | { readonly refused: "mismatch"; readonly attemptsRemaining: number }
  | {
      readonly refused:
        | "not_found"
        | "expired"
        | "already_used"
        | "idempotency_mismatch"
        | "delivery_failed";
    };

/** One session in a ListSessions answer. */
export interface ListedSession {
  readonly sessionId: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  readonly purpose: string;
  /** The verifying client's network, masked (an IPv4 address as its /24); empty when unknown. */
  readonly clientAddress: string;
  readonly userAgent: string;
  readonly current: boolean;
}

interface ModelCode {
  readonly code: string;
  readonly otpId: string;
  readonly expiresAt: number;
  usedAt: number | null;
  /** Wrong codes sent with this code's otp_id: at maxAttempts it is dead. */
  failures: number;
  /** Burned by the unbound lane's lock: gone for unbound verification only. */
  unboundBurned: boolean;
  /** When the service forgets it (one TTL after it expires). */
  readonly forgottenAt: number;
}

interface Pair {
  /** The latest code, for unbound verification (null when none, burned or forgotten). */
  code: ModelCode | null;
  /** Every code issued for the pair and not yet forgotten, oldest first. */
  readonly codes: ModelCode[];
  /** The unbound lane's count. */
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
  /** Every code delivered for this pair, oldest first: the source of stale codes. */
  readonly delivered: string[];
  /** The otp ids of those codes, in the same order. */
  readonly issuedOtpIds: string[];
}

/** A session a verification started, as its token's holder knows it. */
interface ModelSession {
  readonly token: string;
  readonly sessionId: string;
  readonly userId: string;
  /** The account's key in the model (see `account`). */
  readonly account: string;
  readonly purpose: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly clientAddress: string;
  /** Moved to now by a use (GetStatus by token, ListSessions) at most once per touch interval. */
  lastSeenAt: number;
  revoked: boolean;
}

interface Replay {
  readonly purpose: string;
  readonly expiresAt: number;
  readonly otpId: string;
  readonly outcome: Outcome;
}

/** SPEC: last_seen_at moves at most once per min(1m, SESSION_IDLE_TTL/4). */
const TOUCH_INTERVAL_MS = Math.min(60_000, Math.floor(P.sessionIdleTtlMs / 4));

const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
/** SPEC: URL-safe, at least 128 bits (22 characters). */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{22,512}$/;
const PURPOSE = /^[a-z][a-z0-9_-]{0,31}$/;
/** SPEC: 1–128 visible ASCII, case-sensitive, taken as it is. */
const EXTERNAL_ID = /^[\x21-\x7e]{1,128}$/;
/** SPEC: a session id is an id the service answered: 1–64 URL-safe characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The model's key of an account named by external id: a space is in no address EMAIL takes. */
const EXTERNAL_KEY = "ext ";

/** How a request names its account: exactly one of the two (empty or absent is not given). */
export type AccountInput = { readonly email?: string; readonly externalId?: string };

export type RequestInput = AccountInput & {
  readonly purpose: string;
  readonly idempotencyKey?: string;
  readonly clientIp?: string;
};

/** The state SPEC.md says the service keeps, and what each operation must answer. */
export class ReferenceModel {
  now: number;
  private readonly pairs = new Map<string, Pair>();
  /** Codes issued per (account, network) and per account (the mailbox). */
  private readonly emailSlots = new Map<string, number[]>();
  private readonly mailboxSlots = new Map<string, number[]>();
  /** Each account's wrong codes: when, and from which network. */
  private readonly accountFailures = new Map<string, { at: number; network: string }[]>();
  private readonly ipSlots = new Map<string, number[]>();
  /** Every session started, oldest first. */
  readonly sessions: ModelSession[] = [];
  private readonly replays = new Map<string, Replay>();
  /** Every otp id the service has handed out, so a fresh one can be told from a replay. */
  readonly seenOtpIds = new Set<string>();

  constructor(start: number) {
    this.now = start;
  }

  /** The pair's state, created empty; `account` is a normalised email or `account()`'s key. */
  pair(account: string, purpose: string): Pair {
    const key = `${account}\n${purpose}`;
    let pair = this.pairs.get(key);
    if (pair === undefined) {
      pair = {
        code: null,
        codes: [],
        failures: 0,
        lastFailureAt: 0,
        lockedUntil: 0,
        delivered: [],
        issuedOtpIds: [],
      };
      this.pairs.set(key, pair);
    }
    return pair;
  }

  /** Trimmed and lower-cased, or null when SPEC.md would refuse it. */
  static email(raw: string): string | null {
    const email = raw.trim().toLowerCase();
    return email.length > 0 && email.length <= 254 && EMAIL.test(email) ? email : null;
  }

  /**
   * The account's key in the model: the normalised email, or for an external id a key no email
   * takes; the field a refusal names when both, neither or a malformed one is given.
   */
  static account(input: AccountInput): string | { readonly field: "email" | "external_id" } {
    const externalId = input.externalId ?? "";
    if (externalId !== "") {
      if ((input.email ?? "") !== "" || !EXTERNAL_ID.test(externalId)) {
        return { field: "external_id" };
      }
      return `${EXTERNAL_KEY}${externalId}`;
    }
    return ReferenceModel.email(input.email ?? "") ?? { field: "email" };
  }

  /** `login` for empty, null when malformed. */
  static purpose(raw: string | undefined): string | null {
    if (raw === "" || raw === undefined) return "login";
    return PURPOSE.test(raw) ? raw : null;
  }

  /**
   * What RequestOtp must answer. Order (SPEC.md): validate → idempotency replay → per-(account,
   * network) limit → mailbox limit → per-IP limit → deliver. `delivered(otpId, code)` is told the code when one is issued.
   */
  requestOtp(
    input: RequestInput,
    deliveryFails: boolean,
  ): { outcome: Outcome; replayOf?: string; issues: boolean } {
    const email = ReferenceModel.account(input);
    if (typeof email !== "string")
      return { outcome: { refused: "invalid_argument", field: email.field }, issues: false };
    const purpose = ReferenceModel.purpose(input.purpose);
    if (purpose === null)
      return { outcome: { refused: "invalid_argument", field: "purpose" }, issues: false };
    const key = input.idempotencyKey;
    if (key !== undefined) {
      if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
        return {
          outcome: { refused: "invalid_argument", field: "idempotency_key" },
          issues: false,
        };
      }
      const replay = this.replays.get(`${email}\n${key}`);
      if (replay !== undefined && replay.expiresAt > this.now) {
        if (replay.purpose !== purpose) {
          return { outcome: { refused: "idempotency_mismatch" }, issues: false };
        }
        return { outcome: replay.outcome, replayOf: replay.otpId, issues: false };
      }
    }
    // SPEC "Abuse": the unbound lock no longer refuses a request; the limits count per
    // (account, network) and per mailbox.
    const network = networkOf(input.clientIp);
    const netKey = `${email}\n${network}`;
    const emailLive = live(this.emailSlots.get(netKey), this.now, P.requestLimit.windowMs);
    if (emailLive.length >= P.requestLimit.count) {
      const retryAfterMs = Math.min(...emailLive) + P.requestLimit.windowMs - this.now;
      return { outcome: { refused: "request_limit", retryAfterMs }, issues: false };
    }
    const mailboxLive = live(this.mailboxSlots.get(email), this.now, P.mailboxLimit.windowMs);
    if (mailboxLive.length >= P.mailboxLimit.count) {
      const retryAfterMs = Math.min(...mailboxLive) + P.mailboxLimit.windowMs - this.now;
      return { outcome: { refused: "request_limit", retryAfterMs }, issues: false };
    }
    const ip = input.clientIp;
    const ipLive =
      ip === undefined ? [] : live(this.ipSlots.get(ip), this.now, P.ipRequestLimit.windowMs);
    if (ip !== undefined && ipLive.length >= P.ipRequestLimit.count) {
      const retryAfterMs = Math.min(...ipLive) + P.ipRequestLimit.windowMs - this.now;
      return { outcome: { refused: "ip_limit", retryAfterMs }, issues: false };
    }
    if (deliveryFails) {
      return { outcome: { refused: "delivery_failed" }, issues: false };
    }
    return {
      outcome: {
        ok: "issued",
        expiresAt: this.now + P.codeTtlMs,
        ttlMs: P.codeTtlMs,
        // The network's share, or the mailbox's if less.
        remainingRequests: Math.min(
          P.requestLimit.count - emailLive.length - 1,
          P.mailboxLimit.count - mailboxLive.length - 1,
        ),
        codeLength: P.codeLength,
      },
      issues: true,
    };
  }

  /** Records a code the service issued (after `requestOtp` said it `issues`), with what it sent. */
  issued(input: RequestInput, otpId: string, code: string, outcome: Outcome): void {
    const email = ReferenceModel.account(input) as string;
    const purpose = ReferenceModel.purpose(input.purpose) as string;
    const netKey = `${email}\n${networkOf(input.clientIp)}`;
    this.emailSlots.set(netKey, [
      ...live(this.emailSlots.get(netKey), this.now, P.requestLimit.windowMs),
      this.now,
    ]);
    this.mailboxSlots.set(email, [
      ...live(this.mailboxSlots.get(email), this.now, P.mailboxLimit.windowMs),
      this.now,
    ]);
    if (input.clientIp !== undefined) {
      const ip = input.clientIp;
      this.ipSlots.set(ip, [
        ...live(this.ipSlots.get(ip), this.now, P.ipRequestLimit.windowMs),
        this.now,
      ]);
    }
    const pair = this.pair(email, purpose);
    pair.code = {
      code,
      otpId,
      expiresAt: this.now + P.codeTtlMs,
      usedAt: null,
      failures: 0,
      unboundBurned: false,
      forgottenAt: this.now + 2 * P.codeTtlMs,
    };
    pair.codes.push(pair.code);
    pair.delivered.push(code);
    pair.issuedOtpIds.push(otpId);
    this.seenOtpIds.add(otpId);
    if (input.idempotencyKey !== undefined) {
      this.replays.set(`${email}\n${input.idempotencyKey}`, {
        purpose,
        expiresAt: this.now + P.idempotencyTtlMs,
        otpId,
        outcome,
      });
    }
  }

  /**
   * What VerifyOtp must answer, applying its effects. Order (SPEC.md): validate → the account's
   * failure cap → (unbound) lock → no code → used → expired → compare → success. Bound (otp_id),
   * the code of that request alone, with its own attempts; unbound, the latest code under the
   * pair's lock (the failure that reaches the limit locks and burns it for unbound verification).
   * Every counted failure is also the account's, with its network.
   */
  verifyOtp(
    input: AccountInput & { otp: string; purpose: string; otpId?: string; clientIp?: string },
  ): Outcome {
    const email = ReferenceModel.account(input);
    if (typeof email !== "string") return { refused: "invalid_argument", field: email.field };
    const purpose = ReferenceModel.purpose(input.purpose);
    if (purpose === null) return { refused: "invalid_argument", field: "purpose" };
    const otp = input.otp.trim();
    if (!new RegExp(`^[0-9]{${P.codeLength}}$`).test(otp)) {
      return { refused: "invalid_argument", field: "otp" };
    }
    const otpId = input.otpId ?? "";
    if (otpId !== "" && !/^[A-Za-z0-9_-]{1,64}$/.test(otpId)) {
      return { refused: "invalid_argument", field: "otp_id" };
    }
    const bound = otpId !== "";
    const network = networkOf(input.clientIp);
    const failures = (this.accountFailures.get(email) ?? []).filter(
      (f) => f.at > this.now - P.failureWindowMs,
    );
    const capped = this.capped(failures, network, bound);
    if (capped !== null) {
      return { refused: "locked", retryAfterMs: capped - this.now, scope: "account" };
    }
    const pair = this.pair(email, purpose);
    if (!bound && pair.lockedUntil > this.now) {
      return { refused: "locked", retryAfterMs: pair.lockedUntil - this.now, scope: "unbound" };
    }
    const code = bound ? (pair.codes.find((c) => c.otpId === otpId) ?? null) : pair.code;
    if (code === null || code.failures >= P.maxAttempts) return { refused: "not_found" };
    if (code.usedAt !== null) return { refused: "already_used" };
    if (code.expiresAt <= this.now) return { refused: "expired" };
    if (code.code !== otp) {
      let count: number;
      let locked: number | null = null;
      if (bound) {
        code.failures += 1;
        count = code.failures;
      } else {
        // docs/storage.md: a count that reached no lock is forgotten one lockout after the last wrong code.
        if (this.now - pair.lastFailureAt >= P.lockoutMs) pair.failures = 0;
        pair.failures += 1;
        pair.lastFailureAt = this.now;
        count = pair.failures;
        if (pair.failures >= P.maxAttempts) {
          pair.failures = 0;
          pair.lockedUntil = this.now + P.lockoutMs;
          locked = pair.lockedUntil;
          code.unboundBurned = true;
          pair.code = null; // burned: NOT_FOUND (unbound) after the lock until a new code is requested
        }
      }
      failures.push({ at: this.now, network });
      this.accountFailures.set(email, failures);
      const cappedNow = this.capped(failures, network, bound);
      if (cappedNow !== null) {
        return { refused: "locked", retryAfterMs: cappedNow - this.now, scope: "account" };
      }
      if (locked !== null) {
        return { refused: "locked", retryAfterMs: locked - this.now, scope: "unbound" };
      }
      if (bound && count >= P.maxAttempts) {
        return { refused: "locked", retryAfterMs: code.expiresAt - this.now, scope: "code" };
      }
      return {
        refused: "mismatch",
        attemptsRemaining: Math.min(P.maxAttempts - count, P.accountMaxFailures - failures.length),
      };
    }
    code.usedAt = this.now;
    if (!bound) pair.failures = 0;
    const sessionExpiresAt = this.now + P.sessionTtlMs;
    return {
      ok: "verified",
      authenticatedAt: this.now,
      sessionExpiresAt,
      accessTokenExpiresAt: accessTokenExpiry(this.now, sessionExpiresAt),
    };
  }

  /**
   * SPEC "Guessing bound": with accountMaxFailures failures in the window, unbound attempts and
   * networks that failed are refused until the window drops below the cap (or, bound, the
   * network's own failures leave it); null when the attempt is judged.
   */
  private capped(
    failures: { at: number; network: string }[],
    network: string,
    bound: boolean,
  ): number | null {
    if (failures.length < P.accountMaxFailures) return null;
    const lifts =
      (failures[failures.length - P.accountMaxFailures] as { at: number }).at + P.failureWindowMs;
    if (!bound) return lifts;
    const own = failures.filter((f) => f.network === network);
    if (own.length === 0) return null;
    return Math.min(lifts, (own.at(-1) as { at: number }).at + P.failureWindowMs);
  }

  /** Records the session a successful verification of (email, purpose) started, with its token. */
  sessionStarted(
    input: AccountInput & { purpose: string; clientIp?: string },
    session: { token: string; sessionId: string; userId: string },
  ): void {
    this.sessions.push({
      ...session,
      account: ReferenceModel.account(input) as string,
      purpose: ReferenceModel.purpose(input.purpose) as string,
      createdAt: this.now,
      expiresAt: this.now + P.sessionTtlMs,
      clientAddress:
        input.clientIp === undefined
          ? ""
          : `${input.clientIp.split(".").slice(0, 3).join(".")}.0/24`,
      lastSeenAt: this.now,
      revoked: false,
    });
  }

  /** SPEC "Session lifecycle": not revoked, not expired, and used within SESSION_IDLE_TTL. */
  private live(session: ModelSession): boolean {
    return (
      !session.revoked &&
      session.expiresAt > this.now &&
      session.lastSeenAt + P.sessionIdleTtlMs > this.now
    );
  }

  /** A use of the session of `token`: the live session, marked seen when due, or undefined. */
  private use(token: string): ModelSession | undefined {
    const session = this.sessions.find((s) => s.token === token);
    if (session === undefined || !this.live(session)) return undefined;
    if (session.lastSeenAt + TOUCH_INTERVAL_MS <= this.now) session.lastSeenAt = this.now;
    return session;
  }

  /** What GetStatus by account must answer: authenticated while a session of any purpose is live. */
  getStatus(input: AccountInput): Outcome {
    const account = ReferenceModel.account(input);
    if (typeof account !== "string") return { refused: "invalid_argument", field: account.field };
    const live = this.sessions.filter((s) => s.account === account && this.live(s));
    const latest = live.at(-1);
    if (latest !== undefined) {
      return { ok: "status", authenticated: true, authenticatedAt: latest.createdAt };
    }
    return { ok: "status", authenticated: false };
  }

  /** What GetStatus by session token must answer: the session while live, else only false. */
  sessionStatus(token: string): Outcome {
    if (!SESSION_TOKEN.test(token)) return { refused: "invalid_argument", field: "session_token" };
    const session = this.use(token);
    if (session === undefined) {
      return { ok: "status", authenticated: false };
    }
    return {
      ok: "session",
      authenticatedAt: session.createdAt,
      email: session.account.startsWith(EXTERNAL_KEY) ? "" : session.account,
      externalId: session.account.startsWith(EXTERNAL_KEY)
        ? session.account.slice(EXTERNAL_KEY.length)
        : "",
      purpose: session.purpose,
      sessionId: session.sessionId,
      userId: session.userId,
      sessionExpiresAt: session.expiresAt,
      accessTokenExpiresAt: accessTokenExpiry(this.now, session.expiresAt),
    };
  }

  /**
   * What ListSessions must answer, marking the caller's session seen: the live sessions of its
   * user, newest first (equal times by session id, descending), the caller's `current`; nothing
   * for a token whose session is not live.
   */
  listSessions(token: string): Outcome {
    if (!SESSION_TOKEN.test(token)) return { refused: "invalid_argument", field: "session_token" };
    const caller = this.use(token);
    if (caller === undefined) return { ok: "sessions", sessions: [] };
    const sessions = this.sessions
      .filter((s) => s.account === caller.account && this.live(s))
      .sort((a, b) =>
        a.createdAt !== b.createdAt
          ? b.createdAt - a.createdAt
          : a.sessionId < b.sessionId
            ? 1
            : a.sessionId > b.sessionId
              ? -1
              : 0,
      )
      .map((s) => ({
        sessionId: s.sessionId,
        createdAt: s.createdAt,
        lastSeenAt: s.lastSeenAt,
        expiresAt: s.expiresAt,
        purpose: s.purpose,
        clientAddress: s.clientAddress,
        userAgent: "", // the model's verifications send no User-Agent
        current: s === caller,
      }));
    return { ok: "sessions", sessions };
  }

  /**
   * What SignOut must answer, applying it: one session, every session of its user, or
   * (`sessionId`, while the token's session is live) that session if it is the same user's.
   */
  signOut(token: string, allSessions: boolean, sessionId = ""): Outcome {
    if (!SESSION_TOKEN.test(token)) return { refused: "invalid_argument", field: "session_token" };
    if (sessionId !== "" && (!SESSION_ID.test(sessionId) || allSessions)) {
      return { refused: "invalid_argument", field: "session_id" };
    }
    const session = this.sessions.find((s) => s.token === token);
    if (session !== undefined && sessionId !== "") {
      const target = this.sessions.find((s) => s.sessionId === sessionId);
      if (this.live(session) && target !== undefined && target.account === session.account) {
        target.revoked = true;
      }
    } else if (session !== undefined) {
      // Only a live session's token speaks for its user's other sessions.
      const all = allSessions && this.live(session);
      for (const s of this.sessions) {
        if (s === session || (all && s.account === session.account)) s.revoked = true;
      }
    }
    return { ok: "signed-out" };
  }

  /**
   * The service's clean-up (docs/storage.md): a code is forgotten one TTL after it expires, after
   * which a late attempt hears NOT_FOUND rather than EXPIRED. Everything else it drops has
   * already stopped mattering, which the model checks by not modelling it.
   */
  purge(): void {
    for (const pair of this.pairs.values()) {
      if (pair.code !== null && pair.code.forgottenAt <= this.now) {
        pair.code = null;
      }
      const kept = pair.codes.filter((code) => code.forgottenAt > this.now);
      pair.codes.splice(0, pair.codes.length, ...kept);
    }
  }
}

/** ACCESS_TOKEN_TTL from now, never past the session's end, in the whole seconds of a JWT. */
function accessTokenExpiry(now: number, sessionExpiresAt: number): number {
  return Math.floor(Math.min(now + P.accessTokenTtlMs, sessionExpiresAt) / 1000) * 1000;
}

/** SPEC: a network is an IPv4 address (the model uses only those) or, unknown, one network. */
function networkOf(clientIp: string | undefined): string {
  return clientIp ?? "unknown";
}

function live(times: number[] | undefined, now: number, windowMs: number): number[] {
  return (times ?? []).filter((at) => at + windowMs > now);
}
