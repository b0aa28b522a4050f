import {
  type AuditContext,
  type AuditEventType,
  auditContextOrDefault,
  lockScopeOfFailure,
  revocationReasonOf,
} from "../domain/audit-event.js";
import { capRefusal } from "../domain/failure-cap.js";
import { hashesEqual, keyedCodeHash } from "../domain/otp-code.js";
import type {
  AccountFailure,
  AccountGate,
  CodeUse,
  ConsumeOutcome,
  Failure,
  FailureOutcome,
  IdempotencyClaim,
  IdempotencyOutcome,
  IssuedOtp,
  ListedSession,
  NewCode,
  OtpState,
  OtpStore,
  SessionSighting,
  SessionUse,
  SlotsOutcome,
  SlotsRequest,
  StoredAuditEvent,
  StoredCode,
  StoredSession,
  UserRecord,
  UserRef,
} from "../domain/otp-store.js";
import { bucketsWithShares, sharesAsBuckets } from "./share-buckets.js";
import { unlessAborted } from "./unless-aborted.js";

interface CodeRecord extends StoredCode {
  readonly keyedHash: Uint8Array;
  usedAt: number | null;
  failures: number;
  /** Burned by the unbound lane's lock: gone for unbound verification, judged when bound. */
  unboundBurned: boolean;
  readonly retainUntil: number;
}

interface AttemptRecord {
  failures: number;
  lockedUntil: number | null;
  /** The last failure's `lockUntil`: the count means nothing afterwards. */
  retainUntil: number;
}

interface UserEntry {
  readonly userId: string;
  readonly createdAt: number;
  /** When its latest session was created; null until one is. */
  authenticatedAt: number | null;
  retainUntil: number;
}

interface SessionRecord extends StoredSession {
  revokedAt: number | null;
  lastSeenAt: number;
}

interface Slot {
  readonly id: string;
  readonly at: number;
  readonly expiresAt: number;
}

interface IdempotencyRecord {
  readonly purpose: string;
  readonly expiresAt: number;
  response: IssuedOtp | null;
  /** Settles when `holder` completes or releases the key; null once settled. */
  pending: { promise: Promise<void>; settle: () => void; readonly holder: string } | null;
}

interface AuditRecord extends StoredAuditEvent {
  /** The account's key; empty once the account is erased. */
  email: string;
  clientAddress: string;
  userAgent: string;
  readonly retainUntil: number;
}

/**
 * The most audit events the memory store keeps, all accounts together: when full, the oldest
 * tenth is dropped, so a flood of requests cannot grow the process without bound before
 * AUDIT_RETENTION purges them. A database keeps every event for its retention.
 */
export const MEMORY_AUDIT_LIMIT = 100_000;

/**
 * The storage port in process memory, for a single instance.
 *
 * Atomicity: every step reads and writes its records without an `await` in between, so on Node's
 * single thread no other request can interleave inside a step. Memory stays bounded by
 * `purgeExpired`, which drops every record past its retention time, and the audit trail by
 * MEMORY_AUDIT_LIMIT.
 */
export function createMemoryStore(): OtpStore {
  // Each pair's live codes in issue order: the last is the latest.
  const codes = new Map<string, CodeRecord[]>();
  const failuresOf = new Map<string, AccountFailure[]>();
  const attempts = new Map<string, AttemptRecord>();
  const users = new Map<string, UserEntry>();
  const slots = new Map<string, Slot[]>();
  const idempotency = new Map<string, IdempotencyRecord>();
  // By token hash (hex), and the hashes of each email's sessions for lookups by email and user,
  // and of each session id.
  const sessions = new Map<string, SessionRecord>();
  const sessionsOfEmail = new Map<string, Set<string>>();
  const sessionsById = new Map<string, string>();
  // Oldest first (in order of writing, which is also the order of `at` on one clock).
  const audit: AuditRecord[] = [];
  let auditSeq = 0;
  let holders = 0;
  const pairKey = (a: string, b: string) => `${a}\n${b}`;
  const hashKey = (hash: Uint8Array) => Buffer.from(hash).toString("hex");

  const liveAt = (session: SessionRecord, now: number, idleCutoff = 0) =>
    session.revokedAt === null && session.expiresAt > now && session.lastSeenAt > idleCutoff;

  /** The session of `use`'s token, marked seen when due, as `useSession` answers it. */
  function sight(use: SessionUse): { record: SessionRecord; touched: boolean } | null {
    const record = sessions.get(hashKey(use.tokenHash));
    if (record === undefined) {
      return null;
    }
    const touched = liveAt(record, use.now, use.idleCutoff) && record.lastSeenAt <= use.touchBefore;
    if (touched) {
      record.lastSeenAt = use.now;
    }
    return { record, touched };
  }

  /** The account key and user record `ref` names, if there is one. */
  function userOf(ref: UserRef): { email: string; user: UserEntry } | null {
    if (ref.email !== undefined) {
      const user = users.get(ref.email);
      return user === undefined ? null : { email: ref.email, user };
    }
    for (const [email, user] of users) {
      if (user.userId === ref.userId) {
        return { email, user };
      }
    }
    return null;
  }

  /** The sessions of `userId` under the account `email`. */
  function sessionsOfUser(email: string, userId: string): SessionRecord[] {
    return [...(sessionsOfEmail.get(email) ?? [])]
      .map((tokenKey) => sessions.get(tokenKey))
      .filter((session) => session !== undefined && session.userId === userId) as SessionRecord[];
  }

  /** Deletes every key of `map` that starts with `prefix`; how many. */
  function deleteByPrefix(map: Map<string, unknown>, prefix: string): number {
    let deleted = 0;
    for (const key of map.keys()) {
      if (key.startsWith(prefix)) {
        map.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  function lockOf(key: string, now: number): number | null {
    const lockedUntil = attempts.get(key)?.lockedUntil ?? null;
    return lockedUntil !== null && lockedUntil > now ? lockedUntil : null;
  }

  function liveFailures(email: string, now: number, windowMs: number): AccountFailure[] {
    return (failuresOf.get(email) ?? []).filter((failure) => failure.at > now - windowMs);
  }

  function capped(email: string, gate: AccountGate, bound: boolean, now: number): boolean {
    return capRefusal(liveFailures(email, now, gate.windowMs), gate, bound, now) !== null;
  }

  /** recordFailure's step, which consumeCode also takes for a keyed attempt's wrong code. */
  function countFailure(failure: Failure): FailureOutcome {
    const { email, otpId, bound, gate, now } = failure;
    const key = pairKey(email, failure.purpose);
    if (capped(email, gate, bound, now)) {
      return { counted: false };
    }
    // The code compared: bound, by its id; unbound, only while it is still the latest.
    const code = codeOf(key, bound ? otpId : null);
    if (code === undefined || code.otpId !== otpId || !isLive(code, gate, now)) {
      return { counted: false };
    }
    let failures: number;
    let lockedUntil: number | null = null;
    if (bound) {
      code.failures += 1;
      failures = code.failures;
    } else {
      if (lockOf(key, now) !== null) {
        return { counted: false };
      }
      let record = attempts.get(key);
      if (record === undefined || record.retainUntil <= now) {
        record = { failures: 0, lockedUntil: null, retainUntil: failure.lockUntil };
        attempts.set(key, record);
      }
      record.failures += 1;
      record.retainUntil = failure.lockUntil;
      failures = record.failures;
      if (record.failures >= gate.maxAttempts) {
        record.failures = 0;
        record.lockedUntil = failure.lockUntil;
        lockedUntil = failure.lockUntil;
        code.unboundBurned = true;
      }
    }
    const accountFailures = [
      ...liveFailures(email, now, gate.windowMs),
      { at: now, network: gate.network },
    ];
    failuresOf.set(email, accountFailures);
    // The user record (and with it the account) is kept while its failures count.
    const user = users.get(email);
    if (user !== undefined) {
      user.retainUntil = Math.max(user.retainUntil, now + gate.windowMs);
    }
    const counted = { failures, lockedUntil, accountFailures: [...accountFailures] };
    const event = { email, userId: user?.userId ?? "", purpose: failure.purpose };
    writeEvent("otp.verify_failed", now, failure.audit, { ...event, reason: "mismatch" });
    const scope = lockScopeOfFailure(gate, bound, counted);
    if (scope !== null) {
      writeEvent("otp.locked", now, failure.audit, { ...event, reason: scope });
    }
    return { counted: true, ...counted };
  }

  /** What a read answers of a code: a copy, without what only consumeCode compares. */
  function storedCodeOf({ otpId, codeHash, issuedAt, expiresAt, usedAt, failures }: CodeRecord) {
    return { otpId, codeHash, issuedAt, expiresAt, usedAt, failures };
  }

  /** The code an attempt means: bound, the pair's code `otpId`; unbound, the latest unless burned. */
  function codeOf(key: string, otpId: string | null): CodeRecord | undefined {
    const pair = codes.get(key) ?? [];
    if (otpId !== null) {
      return pair.find((code) => code.otpId === otpId);
    }
    const latest = pair.at(-1);
    return latest?.unboundBurned ? undefined : latest;
  }

  /** Writes one audit event, in the step that calls it. */
  function writeEvent(
    type: AuditEventType,
    at: number,
    context: AuditContext | undefined,
    fields: {
      email: string;
      userId: string;
      purpose?: string;
      sessionId?: string;
      reason?: string;
    },
  ): void {
    const { requestId, clientAddress, userAgent, retainUntil } = auditContextOrDefault(context, at);
    if (audit.length >= MEMORY_AUDIT_LIMIT) {
      audit.splice(0, MEMORY_AUDIT_LIMIT / 10);
    }
    audit.push({
      seq: ++auditSeq,
      type,
      at,
      email: fields.email,
      userId: fields.userId,
      purpose: fields.purpose ?? "",
      sessionId: fields.sessionId ?? "",
      clientAddress,
      userAgent,
      requestId,
      reason: fields.reason ?? "",
      retainUntil,
    });
  }

  const isLive = (code: CodeRecord, gate: AccountGate, now: number) =>
    code.usedAt === null && code.expiresAt > now && code.failures < gate.maxAttempts;

  return {
    async readOtpState({ email, purpose, otpId, now, failureWindowMs }): Promise<OtpState> {
      const key = pairKey(email, purpose);
      const code = codeOf(key, otpId);
      return {
        // A snapshot, as a database would return: later steps must not change what was read.
        code: code === undefined ? null : storedCodeOf(code),
        lockedUntil: attempts.get(key)?.lockedUntil ?? null,
        failures: liveFailures(email, now, failureWindowMs),
      };
    },

    async activateCode(code: NewCode): Promise<void> {
      const key = pairKey(code.email, code.purpose);
      const pair = codes.get(key) ?? [];
      pair.push({
        otpId: code.otpId,
        codeHash: code.codeHash,
        keyedHash: code.keyedHash,
        issuedAt: code.issuedAt,
        expiresAt: code.expiresAt,
        usedAt: null,
        failures: 0,
        unboundBurned: false,
        retainUntil: code.retainUntil,
      });
      codes.set(key, pair);
      // Kept while the code may be used, so the user's id stays the same through its session.
      const user = users.get(code.email);
      users.set(code.email, {
        userId: user?.userId ?? code.userId,
        createdAt: user?.createdAt ?? code.issuedAt,
        authenticatedAt: user?.authenticatedAt ?? null,
        retainUntil: Math.max(code.retainUntil, user?.retainUntil ?? 0),
      });
      writeEvent("otp.requested", code.issuedAt, code.audit, {
        email: code.email,
        userId: user?.userId ?? code.userId,
        purpose: code.purpose,
      });
    },

    async consumeCode(use: CodeUse): Promise<ConsumeOutcome> {
      const key = pairKey(use.email, use.purpose);
      if (capped(use.email, use.gate, use.bound, use.now)) {
        return { kind: "refused" };
      }
      if (!use.bound && lockOf(key, use.now) !== null) {
        return { kind: "refused" };
      }
      const code = codeOf(key, use.bound ? use.otpId : null);
      // The code named; or, unbound with a key and no name, the latest, whichever it is.
      if (
        code === undefined ||
        (use.otpId === null ? use.keyed === undefined : code.otpId !== use.otpId)
      ) {
        return { kind: "refused" };
      }
      const { keyed } = use;
      if (
        keyed !== undefined &&
        !hashesEqual(keyedCodeHash(keyed.codeKey, code.otpId), code.keyedHash)
      ) {
        // Not the code sent: counted against it now, as recordFailure would count it.
        const failure = countFailure({
          ...use,
          otpId: code.otpId,
          lockUntil: keyed.lockUntil,
        });
        return failure.counted
          ? { kind: "mismatch", failure, expiresAt: code.expiresAt }
          : { kind: "refused" };
      }
      if (!isLive(code, use.gate, use.now)) {
        return { kind: "refused" };
      }
      code.usedAt = use.now;
      if (!use.bound) {
        attempts.delete(key);
      }
      const user = users.get(use.email);
      const userId = user?.userId ?? use.userId;
      const retainUntil = Math.max(use.retainUntil, user?.retainUntil ?? 0);
      users.set(use.email, {
        userId,
        createdAt: user?.createdAt ?? use.now,
        authenticatedAt: use.now,
        retainUntil,
      });
      const tokenKey = hashKey(use.session.tokenHash);
      sessions.set(tokenKey, {
        sessionId: use.session.sessionId,
        userId,
        email: use.email,
        purpose: use.purpose,
        createdAt: use.now,
        expiresAt: use.session.expiresAt,
        revokedAt: null,
        lastSeenAt: use.now,
        clientAddress: use.session.clientAddress,
        userAgent: use.session.userAgent,
      });
      const ofEmail = sessionsOfEmail.get(use.email) ?? new Set<string>();
      ofEmail.add(tokenKey);
      sessionsOfEmail.set(use.email, ofEmail);
      sessionsById.set(use.session.sessionId, tokenKey);
      writeEvent("session.created", use.now, use.audit, {
        email: use.email,
        userId,
        purpose: use.purpose,
        sessionId: use.session.sessionId,
      });
      return { kind: "consumed", userId };
    },

    async recordFailure(failure: Failure): Promise<FailureOutcome> {
      return countFailure(failure);
    },

    takeSlots: sharesAsBuckets(
      async ({ slotId, now, limits }: SlotsRequest): Promise<SlotsOutcome> => {
        const live = limits.map(({ bucket }) =>
          (slots.get(bucket) ?? []).filter((slot) => slot.expiresAt > now),
        );
        for (const [i, { bucket }] of limits.entries()) {
          slots.set(bucket, live[i] as Slot[]);
        }
        const refused = limits.findIndex(
          ({ limit }, i) => (live[i] as Slot[]).length >= limit.count,
        );
        if (refused >= 0) {
          // Slots are appended in time order, so the oldest frees first.
          return {
            granted: false,
            refused,
            retryAt: ((live[refused] as Slot[])[0] as Slot).expiresAt,
          };
        }
        return {
          granted: true,
          remaining: limits.map(({ limit }, i) => {
            const taken = live[i] as Slot[];
            taken.push({ id: slotId, at: now, expiresAt: now + limit.windowMs });
            return limit.count - taken.length;
          }),
        };
      },
    ),

    async releaseSlots(limits, slotId): Promise<void> {
      for (const bucket of bucketsWithShares(limits)) {
        const rest = (slots.get(bucket) ?? []).filter((slot) => slot.id !== slotId);
        if (rest.length === 0) {
          slots.delete(bucket);
        } else {
          slots.set(bucket, rest);
        }
      }
    },

    async claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome> {
      const key = pairKey(claim.email, claim.key);
      for (;;) {
        const record = idempotency.get(key);
        if (record === undefined || record.expiresAt <= claim.now) {
          let settle = () => {};
          const promise = new Promise<void>((resolve) => {
            settle = resolve;
          });
          const holder = `holder-${++holders}`;
          idempotency.set(key, {
            purpose: claim.purpose,
            expiresAt: claim.expiresAt,
            response: null,
            pending: { promise, settle, holder },
          });
          return { kind: "claimed", holder };
        }
        if (record.purpose !== claim.purpose) {
          return { kind: "mismatch" };
        }
        if (record.response !== null) {
          return { kind: "replay", response: record.response };
        }
        // Another request holds the key: wait for it (while our caller still waits), then look again.
        await unlessAborted(record.pending?.promise ?? Promise.resolve(), claim.signal);
      }
    },

    async completeIdempotencyKey(email, key, holder, response): Promise<void> {
      const record = idempotency.get(pairKey(email, key));
      if (record?.pending?.holder !== holder) {
        return;
      }
      record.response = response;
      record.pending.settle();
      record.pending = null;
    },

    async releaseIdempotencyKey(email, key, holder): Promise<void> {
      const id = pairKey(email, key);
      const record = idempotency.get(id);
      if (record?.pending?.holder !== holder) {
        return;
      }
      idempotency.delete(id);
      record.pending.settle();
    },

    async readAuthentication(email, now, idleCutoff): Promise<number | null> {
      let latest: number | null = null;
      for (const tokenKey of sessionsOfEmail.get(email) ?? []) {
        const session = sessions.get(tokenKey);
        if (session !== undefined && liveAt(session, now, idleCutoff)) {
          latest = Math.max(latest ?? session.createdAt, session.createdAt);
        }
      }
      return latest;
    },

    async findSession(tokenHash): Promise<StoredSession | null> {
      const session = sessions.get(hashKey(tokenHash));
      return session === undefined ? null : { ...session };
    },

    async findSessionById(sessionId): Promise<StoredSession | null> {
      const tokenKey = sessionsById.get(sessionId);
      const session = tokenKey === undefined ? undefined : sessions.get(tokenKey);
      return session === undefined ? null : { ...session };
    },

    async useSession(use: SessionUse): Promise<SessionSighting | null> {
      const seen = sight(use);
      return seen === null ? null : { session: { ...seen.record }, touched: seen.touched };
    },

    async listSessions(use: SessionUse): Promise<ListedSession[]> {
      const seen = sight(use);
      if (seen === null || !liveAt(seen.record, use.now, use.idleCutoff)) {
        return [];
      }
      // A user's sessions are all of one account key (the user record is per key).
      const listed: ListedSession[] = [];
      for (const tokenKey of sessionsOfEmail.get(seen.record.email) ?? []) {
        const session = sessions.get(tokenKey);
        if (
          session !== undefined &&
          session.userId === seen.record.userId &&
          liveAt(session, use.now, use.idleCutoff)
        ) {
          listed.push({ ...session, current: session === seen.record });
        }
      }
      return listed.sort(
        (a, b) =>
          b.createdAt - a.createdAt ||
          (a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0),
      );
    },

    async revokeSessions(revocation): Promise<number> {
      const { tokenHash, allOfUser, sessionId, now, idleCutoff } = revocation;
      const session = sessions.get(hashKey(tokenHash));
      if (session === undefined) {
        return 0;
      }
      const live = liveAt(session, now, idleCutoff);
      let targets: (SessionRecord | undefined)[] = [session];
      if (sessionId !== undefined) {
        const target = sessions.get(sessionsById.get(sessionId) ?? "");
        targets = live && target?.userId === session.userId ? [target] : [];
      } else if (allOfUser && live) {
        targets = [...(sessionsOfEmail.get(session.email) ?? [])].map((key) => sessions.get(key));
      }
      const reason = revocationReasonOf(revocation);
      let revoked = 0;
      for (const target of targets) {
        if (target !== undefined && target.revokedAt === null) {
          target.revokedAt = now;
          revoked++;
          writeEvent("session.revoked", now, revocation.audit, { ...target, reason });
        }
      }
      return revoked;
    },

    async findUser(ref, now, idleCutoff): Promise<UserRecord | null> {
      const found = userOf(ref);
      if (found === null) {
        return null;
      }
      const { email, user } = found;
      return {
        userId: user.userId,
        email,
        createdAt: user.createdAt,
        lastAuthenticatedAt: user.authenticatedAt,
        liveSessions: sessionsOfUser(email, user.userId).filter((s) => liveAt(s, now, idleCutoff))
          .length,
      };
    },

    async revokeUserSessions(ref, now, idleCutoff, context): Promise<number> {
      const found = userOf(ref);
      if (found === null) {
        return 0;
      }
      let revoked = 0;
      for (const session of sessionsOfUser(found.email, found.user.userId)) {
        if (liveAt(session, now, idleCutoff)) {
          session.revokedAt = now;
          revoked++;
          writeEvent("session.revoked", now, context, { ...session, reason: "admin" });
        }
      }
      return revoked;
    },

    async eraseUser({ email, userId, buckets, now, audit: context }): Promise<boolean> {
      const user = users.get(email);
      if (userId !== undefined && user?.userId !== userId) {
        return false;
      }
      users.delete(email);
      // The trail keeps what happened, not who it happened to.
      for (const event of audit) {
        if (event.email === email) {
          event.email = "";
          event.clientAddress = "";
          event.userAgent = "";
        }
      }
      for (const tokenKey of sessionsOfEmail.get(email) ?? []) {
        const session = sessions.get(tokenKey);
        if (session !== undefined && liveAt(session, now)) {
          writeEvent("session.revoked", now, context, {
            ...session,
            email: "",
            reason: "user_deleted",
          });
        }
      }
      if (user !== undefined) {
        writeEvent("user.deleted", now, context, { email: "", userId: user.userId });
      }
      // Keys of (email, purpose) and (email, idempotency key) pairs: the account's own start with
      // its key and the separator, which neither an email nor an external id contains.
      deleteByPrefix(codes, pairKey(email, ""));
      deleteByPrefix(attempts, pairKey(email, ""));
      failuresOf.delete(email);
      for (const [key, record] of idempotency) {
        if (key.startsWith(pairKey(email, ""))) {
          idempotency.delete(key);
          // A request still holding the key finds it gone; whoever waits on it looks again.
          record.pending?.settle();
        }
      }
      for (const tokenKey of sessionsOfEmail.get(email) ?? []) {
        const session = sessions.get(tokenKey);
        sessions.delete(tokenKey);
        if (session !== undefined) {
          sessionsById.delete(session.sessionId);
        }
      }
      sessionsOfEmail.delete(email);
      for (const bucket of buckets.names) {
        slots.delete(bucket);
      }
      for (const prefix of buckets.prefixes) {
        deleteByPrefix(slots, prefix);
      }
      return user !== undefined;
    },

    async recordDeliveryFailure(failure): Promise<void> {
      writeEvent("otp.delivery_failed", failure.now, failure.audit, {
        email: failure.email,
        userId: users.get(failure.email)?.userId ?? "",
        purpose: failure.purpose,
      });
    },

    async listAuditEvents({ user, since, after, limit }): Promise<StoredAuditEvent[]> {
      const found: StoredAuditEvent[] = [];
      for (const event of audit) {
        const named =
          user.email !== undefined ? event.email === user.email : event.userId === user.userId;
        const later =
          after === null || event.at > after.at || (event.at === after.at && event.seq > after.seq);
        if (named && event.at >= since && later) {
          const { email: _email, retainUntil: _retainUntil, ...answered } = event;
          found.push(answered);
        }
      }
      // Written in order, but a step's `now` is its caller's: sorted, as a database's ORDER BY.
      return found.sort((a, b) => a.at - b.at || a.seq - b.seq).slice(0, limit);
    },

    async ping(): Promise<void> {},

    async purgeExpired(now): Promise<number> {
      let purged = 0;
      for (const [key, pair] of codes) {
        const kept = pair.filter((code) => code.retainUntil > now);
        purged += pair.length - kept.length;
        if (kept.length === 0) {
          codes.delete(key);
        } else if (kept.length < pair.length) {
          codes.set(key, kept);
        }
      }
      for (const [email, failures] of failuresOf) {
        // The newest failure is the last: once it is past any window the account is forgotten.
        // The window is not known here; failures are kept as long as their user record is.
        if (!users.has(email) || (users.get(email)?.retainUntil ?? 0) <= now) {
          failuresOf.delete(email);
          purged += failures.length;
        }
      }
      for (const [key, record] of attempts) {
        if (record.retainUntil <= now) {
          attempts.delete(key);
          purged++;
        }
      }
      for (const [email, user] of users) {
        if (user.retainUntil <= now) {
          users.delete(email);
          purged++;
        }
      }
      for (const [tokenKey, session] of sessions) {
        if (session.expiresAt <= now) {
          sessions.delete(tokenKey);
          sessionsById.delete(session.sessionId);
          const ofEmail = sessionsOfEmail.get(session.email);
          ofEmail?.delete(tokenKey);
          if (ofEmail?.size === 0) {
            sessionsOfEmail.delete(session.email);
          }
          purged++;
        }
      }
      for (const [bucket, taken] of slots) {
        const live = taken.filter((slot) => slot.expiresAt > now);
        purged += taken.length - live.length;
        if (live.length === 0) {
          slots.delete(bucket);
        } else if (live.length < taken.length) {
          slots.set(bucket, live);
        }
      }
      for (const [key, record] of idempotency) {
        if (record.expiresAt <= now && record.pending === null) {
          idempotency.delete(key);
          purged++;
        }
      }
      const keptEvents = audit.filter((event) => event.retainUntil > now);
      purged += audit.length - keptEvents.length;
      audit.splice(0, audit.length, ...keptEvents);
      return purged;
    },

    async close(): Promise<void> {
      codes.clear();
      failuresOf.clear();
      attempts.clear();
      users.clear();
      slots.clear();
      idempotency.clear();
      sessions.clear();
      sessionsOfEmail.clear();
      sessionsById.clear();
      audit.length = 0;
    },
  };
}
