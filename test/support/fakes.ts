import { OtpError } from "../../src/domain/errors.js";
import type { OtpStore } from "../../src/domain/otp-store.js";
import type {
  AccessTokenClaims,
  AccessTokenSigner,
  AccessTokenVerifier,
  ExternalIdDelivery,
  OtpDelivery,
  OtpSender,
  RandomSource,
} from "../../src/domain/ports.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";

/** A clock that only moves when told to. */
export function createFakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
    /** Moves to `at`, forward only: a clock does not go back. */
    set(at: number) {
      if (at < now) {
        throw new Error(`the clock is at ${now}; it does not go back to ${at}`);
      }
      now = at;
    },
  };
}

/**
 * Codes taken from `codes` in order (then "000000"-style repeats of the last), ids and session
 * tokens counting up.
 */
export function createFixedRandom(codes: string[] = []) {
  let next = 0;
  let ids = 0;
  let tokens = 0;
  const random: RandomSource = {
    digits(length) {
      const code = codes[next] ?? codes[codes.length - 1] ?? "1".repeat(length);
      next++;
      return code.padStart(length, "0").slice(-length);
    },
    id() {
      ids++;
      return `otp-${ids}`;
    },
    token() {
      tokens++;
      return `session-token-${String(tokens).padStart(12, "0")}`;
    },
  };
  return random;
}

/**
 * A sender that records what it delivered, to emails in `sent` and to external ids (it can reach
 * them, as the webhook does) in `sentToExternalIds`; `fail` makes the next sends reject.
 */
export function createRecordingSender() {
  const sent: OtpDelivery[] = [];
  const sentToExternalIds: ExternalIdDelivery[] = [];
  let failure: Error | null = null;
  const sender: Required<Pick<OtpSender, "send" | "sendToExternalId">> & {
    sent: OtpDelivery[];
    sentToExternalIds: ExternalIdDelivery[];
    lastCodeFor(email: string): string;
    lastCodeForExternalId(externalId: string): string;
    fail(error: Error | null): void;
  } = {
    sent,
    sentToExternalIds,
    async send(delivery) {
      if (failure !== null) {
        throw failure;
      }
      sent.push(delivery);
    },
    async sendToExternalId(delivery) {
      if (failure !== null) {
        throw failure;
      }
      sentToExternalIds.push(delivery);
    },
    lastCodeFor(email) {
      const found = sent.findLast((d) => d.email === email);
      if (found === undefined) {
        throw new Error(`no code was sent to ${email}`);
      }
      return found.code;
    },
    lastCodeForExternalId(externalId) {
      const found = sentToExternalIds.findLast((d) => d.externalId === externalId);
      if (found === undefined) {
        throw new Error(`no code was sent to external id ${externalId}`);
      }
      return found.code;
    },
    fail(error) {
      failure = error;
    },
  };
  return sender;
}

/**
 * Wraps a real store so a test can line requests up: after `holdUntil(method, n)`, the next `n`
 * calls of `method` wait until the n-th arrives, then all run at once. Requests that came in on
 * different sockets then race through the store's steps together, as they would against a remote
 * database, instead of each finishing before the next one's bytes are read. Nothing is changed
 * about what the store does; it only decides when the calls start.
 */
export function createGatedStore(inner: OtpStore) {
  let gate: {
    method: keyof OtpStore;
    waiting: number;
    open: () => void;
    opened: Promise<void>;
    /** Told of each held call as it arrives, with how many are still awaited. */
    arrival: (waiting: number) => void;
  } | null = null;
  // A call of `method` held until a call of `after` has completed (holdUntilDone).
  let ordering: {
    method: keyof OtpStore;
    after: keyof OtpStore;
    holding: boolean;
    entered: () => void;
    done: () => void;
    doneOnce: Promise<void>;
  } | null = null;
  const store = { ...inner };
  for (const method of Object.keys(inner) as (keyof OtpStore)[]) {
    const step = inner[method] as (...args: unknown[]) => Promise<unknown>;
    (store as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const held = gate;
      if (held !== null && held.method === method) {
        held.waiting -= 1;
        held.arrival(held.waiting);
        if (held.waiting === 0) {
          gate = null;
          held.open();
        }
        await held.opened;
      }
      const order = ordering;
      if (order !== null && !order.holding && order.method === method) {
        order.holding = true;
        order.entered();
        await order.doneOnce;
        return step(...args);
      }
      if (order?.holding && order.after === method) {
        ordering = null;
        try {
          return await step(...args);
        } finally {
          order.done();
        }
      }
      return step(...args);
    };
  }
  return {
    store: store as OtpStore,
    /**
     * The next call of `method` waits, once it has been made, until a call of `after` (made
     * meanwhile by another request) has completed: a chosen interleaving of two requests.
     * Resolves `entered` when the held call arrives.
     */
    holdUntilDone(method: keyof OtpStore, after: keyof OtpStore) {
      let entered = () => {};
      const arrived = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let done = () => {};
      const doneOnce = new Promise<void>((resolve) => {
        done = resolve;
      });
      ordering = { method, after, holding: false, entered, done, doneOnce };
      return { entered: arrived };
    },
    /**
     * Held calls run in the order they arrived. `arrived(k)` resolves once k of the n have, so a
     * test can send the last one only after the others are lined up.
     */
    holdUntil(method: keyof OtpStore, n: number) {
      let open = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      const waits: { k: number; resolve: () => void }[] = [];
      const arrival = (waiting: number) => {
        for (const wait of waits.filter(({ k }) => n - waiting >= k)) {
          wait.resolve();
        }
      };
      gate = { method, waiting: n, open, opened, arrival };
      return {
        arrived: (k: number) =>
          new Promise<void>((resolve) => {
            waits.push({ k, resolve });
          }),
      };
    },
  };
}

/**
 * A sender that holds every delivery until `release()` is called, for calls that must still be in
 * flight when something else happens (a client deadline). `started` resolves with the first
 * delivery once its send has begun.
 */
export function createHoldingSender() {
  const waiting: (() => void)[] = [];
  let begin: (delivery: OtpDelivery) => void = () => {};
  const started = new Promise<OtpDelivery>((resolve) => {
    begin = resolve;
  });
  const sender: OtpSender & { started: Promise<OtpDelivery>; release(): void } = {
    started,
    send(delivery) {
      begin(delivery);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      for (const resolve of waiting.splice(0)) {
        resolve();
      }
    },
  };
  return sender;
}

/**
 * A store whose every step rejects with `makeError()`, standing in for a backend that cannot be
 * reached (an OtpError of kind `storage_unavailable`) or one with a bug (any other error).
 * `purgeExpired` and `close` still work so that the server can shut down cleanly.
 */
export function createFailingStore(makeError: () => unknown): OtpStore {
  const inner = createMemoryStore();
  const fail = async (): Promise<never> => {
    throw makeError();
  };
  return {
    readOtpState: fail,
    activateCode: fail,
    consumeCode: fail,
    recordFailure: fail,
    takeSlots: fail,
    releaseSlots: fail,
    claimIdempotencyKey: fail,
    completeIdempotencyKey: fail,
    releaseIdempotencyKey: fail,
    readAuthentication: fail,
    findSession: fail,
    findSessionById: fail,
    useSession: fail,
    recordDeliveryFailure: fail,
    listAuditEvents: fail,
    listSessions: fail,
    revokeSessions: fail,
    findUser: fail,
    revokeUserSessions: fail,
    eraseUser: fail,
    ping: fail,
    purgeExpired: (now) => inner.purgeExpired(now),
    close: () => inner.close(),
  };
}

/**
 * Wraps a real store so that its `ping` can be made to fail as an unreachable backend's does
 * (an OtpError of kind `storage_unavailable`), and recover. Every other step works as before.
 */
export function createPingSwitchStore(inner: OtpStore) {
  let reachable = true;
  const store: OtpStore = {
    ...inner,
    async ping() {
      if (!reachable) {
        throw new OtpError({ kind: "storage_unavailable" }, "the database cannot be reached");
      }
      await inner.ping();
    },
  };
  return {
    store,
    setReachable(value: boolean) {
      reachable = value;
    },
  };
}

/**
 * A signer that records the claims it was given and "signs" them unsigned, in a JWS's shape
 * (`claims.<base64url JSON>.unsigned`; `claimsOf` reads them back), for domain tests that check
 * what a token says without a key.
 */
export function createRecordingSigner() {
  const signed: AccessTokenClaims[] = [];
  const signer: AccessTokenSigner & { signed: AccessTokenClaims[] } = {
    signed,
    async sign(claims) {
      signed.push(claims);
      return fakeAccessToken(claims);
    },
  };
  return signer;
}

/** A token as the recording signer writes it, holding `claims` as they are. */
export function fakeAccessToken(claims: object): string {
  return `claims.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.unsigned`;
}

/** The JSON a recording signer's token holds. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
}

/**
 * A verifier that takes what the recording signer writes for signed (adding `iss`, as a real
 * signer does, unless the token names its own), and nothing else: anything else stands for a
 * token signed by a key it does not know.
 */
export function createRecordingVerifier(issuer = "otp-auth"): AccessTokenVerifier {
  return {
    async verify(token) {
      const [kind, , signature, ...rest] = token.split(".");
      if (kind !== "claims" || signature !== "unsigned" || rest.length > 0) {
        return null;
      }
      return { iss: issuer, ...claimsOf(token) };
    },
  };
}
