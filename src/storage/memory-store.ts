import type {
  CodeUse,
  ConsumeOutcome,
  Failure,
  FailureOutcome,
  IdempotencyClaim,
  IdempotencyOutcome,
  IssuedOtp,
  NewCode,
  OtpState,
  OtpStore,
  SlotOutcome,
  SlotRequest,
  StoredCode,
  StoredSession,
  UserRecord,
  UserRef,
} from "../domain/otp-store.js";
import { unlessAborted } from "./unless-aborted.js";

interface CodeRecord extends StoredCode {
  usedAt: number | null;
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

/**
 * The storage port in process memory, for a single instance.
 *
 * Atomicity: every step reads and writes its records without an `await` in between, so on Node's
 * single thread no other request can interleave inside a step. Memory stays bounded by
 * `purgeExpired`, which drops every record past its retention time.
 */
export function createMemoryStore(): OtpStore {
  const codes = new Map<string, CodeRecord>();
  const attempts = new Map<string, AttemptRecord>();
  const users = new Map<string, UserEntry>();
  const slots = new Map<string, Slot[]>();
  const idempotency = new Map<string, IdempotencyRecord>();
  // By token hash (hex), and the hashes of each email's sessions for lookups by email and user,
  // and of each session id.
  const sessions = new Map<string, SessionRecord>();
  const sessionsOfEmail = new Map<string, Set<string>>();
  const sessionsById = new Map<string, string>();
  let holders = 0;
  const pairKey = (a: string, b: string) => `${a}\n${b}`;
  const hashKey = (hash: Uint8Array) => Buffer.from(hash).toString("hex");

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

  const isLiveAt = (session: SessionRecord, now: number) =>
    session.revokedAt === null && session.expiresAt > now;

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

  return {
    async readOtpState(email, purpose): Promise<OtpState> {
      const key = pairKey(email, purpose);
      const code = codes.get(key);
      return {
        // A snapshot, as a database would return: later steps must not change what was read.
        code: code === undefined ? null : { ...code },
        lockedUntil: attempts.get(key)?.lockedUntil ?? null,
      };
    },

    async activateCode(code: NewCode): Promise<void> {
      codes.set(pairKey(code.email, code.purpose), {
        otpId: code.otpId,
        codeHash: code.codeHash,
        issuedAt: code.issuedAt,
        expiresAt: code.expiresAt,
        usedAt: null,
        retainUntil: code.retainUntil,
      });
      // Kept while the code may be used, so the user's id stays the same through its session.
      const user = users.get(code.email);
      users.set(code.email, {
        userId: user?.userId ?? code.userId,
        createdAt: user?.createdAt ?? code.issuedAt,
        authenticatedAt: user?.authenticatedAt ?? null,
        retainUntil: Math.max(code.retainUntil, user?.retainUntil ?? 0),
      });
    },

    async consumeCode(use: CodeUse): Promise<ConsumeOutcome> {
      const key = pairKey(use.email, use.purpose);
      const lockedUntil = lockOf(key, use.now);
      if (lockedUntil !== null) {
        return { kind: "locked", lockedUntil };
      }
      const code = codes.get(key);
      if (code === undefined || code.otpId !== use.otpId) {
        return { kind: "replaced" };
      }
      if (code.usedAt !== null) {
        return { kind: "used" };
      }
      if (code.expiresAt <= use.now) {
        return { kind: "expired" };
      }
      code.usedAt = use.now;
      attempts.delete(key);
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
      });
      const ofEmail = sessionsOfEmail.get(use.email) ?? new Set<string>();
      ofEmail.add(tokenKey);
      sessionsOfEmail.set(use.email, ofEmail);
      sessionsById.set(use.session.sessionId, tokenKey);
      return { kind: "consumed", userId };
    },

    async recordFailure(failure: Failure): Promise<FailureOutcome> {
      const key = pairKey(failure.email, failure.purpose);
      const lockedUntil = lockOf(key, failure.now);
      if (lockedUntil !== null) {
        return { failures: 0, lockedUntil };
      }
      let record = attempts.get(key);
      if (record === undefined || record.retainUntil <= failure.now) {
        record = { failures: 0, lockedUntil: null, retainUntil: failure.lockUntil };
        attempts.set(key, record);
      }
      record.failures += 1;
      record.retainUntil = failure.lockUntil;
      if (record.failures < failure.lockAt) {
        return { failures: record.failures, lockedUntil: null };
      }
      const reached = record.failures;
      record.failures = 0;
      record.lockedUntil = failure.lockUntil;
      codes.delete(key);
      return { failures: reached, lockedUntil: failure.lockUntil };
    },

    async takeSlot(request: SlotRequest): Promise<SlotOutcome> {
      const { bucket, now, limit, unlessLocked } = request;
      if (unlessLocked !== undefined) {
        const lockedUntil = lockOf(pairKey(unlessLocked.email, unlessLocked.purpose), now);
        if (lockedUntil !== null) {
          return { granted: false, lockedUntil };
        }
      }
      const live = (slots.get(bucket) ?? []).filter((slot) => slot.expiresAt > now);
      if (live.length >= limit.count) {
        slots.set(bucket, live);
        // Slots are appended in time order, so the oldest frees first.
        return { granted: false, retryAt: (live[0] as Slot).expiresAt };
      }
      live.push({ id: request.slotId, at: now, expiresAt: now + limit.windowMs });
      slots.set(bucket, live);
      return { granted: true, remaining: limit.count - live.length };
    },

    async releaseSlot(bucket, slotId): Promise<void> {
      const live = slots.get(bucket);
      if (live === undefined) {
        return;
      }
      const rest = live.filter((slot) => slot.id !== slotId);
      if (rest.length === 0) {
        slots.delete(bucket);
      } else {
        slots.set(bucket, rest);
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

    async readAuthentication(email, now): Promise<number | null> {
      let latest: number | null = null;
      for (const tokenKey of sessionsOfEmail.get(email) ?? []) {
        const session = sessions.get(tokenKey);
        if (session !== undefined && session.revokedAt === null && session.expiresAt > now) {
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

    async revokeSessions({ tokenHash, allOfUser, now }): Promise<void> {
      const session = sessions.get(hashKey(tokenHash));
      if (session === undefined) {
        return;
      }
      const live = session.revokedAt === null && session.expiresAt > now;
      const targets =
        allOfUser && live
          ? [...(sessionsOfEmail.get(session.email) ?? [])].map((key) => sessions.get(key))
          : [session];
      for (const target of targets) {
        if (target !== undefined && target.revokedAt === null) {
          target.revokedAt = now;
        }
      }
    },

    async findUser(ref, now): Promise<UserRecord | null> {
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
        liveSessions: sessionsOfUser(email, user.userId).filter((s) => isLiveAt(s, now)).length,
      };
    },

    async revokeUserSessions(ref, now): Promise<number> {
      const found = userOf(ref);
      if (found === null) {
        return 0;
      }
      let revoked = 0;
      for (const session of sessionsOfUser(found.email, found.user.userId)) {
        if (isLiveAt(session, now)) {
          session.revokedAt = now;
          revoked++;
        }
      }
      return revoked;
    },

    async eraseUser({ email, userId, buckets }): Promise<boolean> {
      const user = users.get(email);
      if (userId !== undefined && user?.userId !== userId) {
        return false;
      }
      users.delete(email);
      // Keys of (email, purpose) and (email, idempotency key) pairs: the account's own start with
      // its key and the separator, which neither an email nor an external id contains.
      deleteByPrefix(codes, pairKey(email, ""));
      deleteByPrefix(attempts, pairKey(email, ""));
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

    async ping(): Promise<void> {},

    async purgeExpired(now): Promise<number> {
      let purged = 0;
      for (const [key, code] of codes) {
        if (code.retainUntil <= now) {
          codes.delete(key);
          purged++;
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
      return purged;
    },

    async close(): Promise<void> {
      codes.clear();
      attempts.clear();
      users.clear();
      slots.clear();
      idempotency.clear();
      sessions.clear();
      sessionsOfEmail.clear();
      sessionsById.clear();
    },
  };
}
