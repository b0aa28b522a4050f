import { keyedCodeHash } from "../../../src/domain/otp-code.js";
import type {
  AccountGate,
  CodeLookup,
  CodeUse,
  Failure,
  FailureOutcome,
  IssuedOtp,
  NewCode,
  OtpStore,
} from "../../../src/domain/otp-store.js";

/** The store of the running test: a fresh, empty one for each test, so read it inside the test. */
export type CurrentStore = () => OtpStore;

/** The contract's epoch: every time in it is T0 plus a few minutes. */
export const T0 = Date.UTC(2026, 0, 1);
export const MINUTE = 60_000;

/** The account's failure cap as the contract judges with it: 30 failures a day, 3 per code. */
export const gate = (overrides: Partial<AccountGate> = {}): AccountGate => ({
  network: "ip:203.0.113.7",
  maxFailures: 30,
  windowMs: 24 * 60 * MINUTE,
  maxAttempts: 3,
  ...overrides,
});

/** What an unbound verification of (email, purpose) reads at `now` (bound with `otpId`). */
export const lookup = (
  email = "ann@example.com",
  purpose = "login",
  otpId: string | null = null,
  now = T0 + MINUTE,
): CodeLookup => ({ email, purpose, otpId, now, failureWindowMs: 24 * 60 * MINUTE });

/**
 * The key of the digits every contract code was sent with (domain/otp-code.ts codeKeyOf): a
 * verification that has read nothing hands it to consumeCode.
 */
export const CODE_KEY = new Uint8Array(32).fill(9);

/** A keyed attempt with `codeKey` (CODE_KEY: the right one), locking the pair 10 minutes. */
export const keyed = (codeKey: Uint8Array = CODE_KEY, lockUntil = T0 + 11 * MINUTE) => ({
  codeKey,
  lockUntil,
});

/**
 * Ann's login code "otp-1", issued at T0: it expires after 5 minutes and is kept for 10. Its keyed
 * hash is the one CODE_KEY makes of its otp id.
 */
export function newCode(overrides: Partial<NewCode> = {}): NewCode {
  const otpId = overrides.otpId ?? "otp-1";
  return {
    userId: "user-ann",
    email: "ann@example.com",
    purpose: "login",
    otpId,
    codeHash: new Uint8Array(32).fill(7),
    keyedHash: keyedCodeHash(CODE_KEY, otpId),
    issuedAt: T0,
    expiresAt: T0 + 5 * MINUTE,
    retainUntil: T0 + 10 * MINUTE,
    ...overrides,
  };
}

let sessions = 0;
/** The token hash of the n-th session `use()` made: 32 bytes holding n. */
const tokenHash = (n: number) => {
  const hash = new Uint8Array(32);
  new DataView(hash.buffer).setUint32(0, n);
  return hash;
};

/**
 * A use of ann's login code "otp-1" at T0 + 1 minute, with a session of its own (each attempt
 * brings a new one, as the domain's do) that lasts a day.
 */
export const use = (overrides: Partial<CodeUse> = {}): CodeUse => {
  sessions++;
  return {
    email: "ann@example.com",
    purpose: "login",
    otpId: "otp-1",
    bound: false,
    gate: gate(),
    now: T0 + MINUTE,
    retainUntil: T0 + 24 * 60 * MINUTE,
    session: {
      sessionId: `session-${sessions}`,
      tokenHash: tokenHash(sessions),
      expiresAt: T0 + 24 * 60 * MINUTE,
      clientAddress: "203.0.113.0/24",
      userAgent: "Contract/1.0",
    },
    userId: `user-new-${sessions}`,
    ...overrides,
  };
};

/**
 * A wrong code for ann's login at `now`, compared unbound with her code "otp-1" (which must be the
 * pair's latest): the third locks the pair for 10 minutes. Bound with `{ bound: true }`.
 */
export const failure = (now: number, overrides: Partial<Failure> = {}): Failure => ({
  email: "ann@example.com",
  purpose: "login",
  otpId: "otp-1",
  bound: false,
  gate: gate(),
  now,
  lockUntil: now + 10 * MINUTE,
  ...overrides,
});

/** The count a failure reached, or 0 when it was not counted. */
export const countOf = (outcome: FailureOutcome) => (outcome.counted ? outcome.failures : 0);

/** A RequestOtp answer, as an idempotency key stores it. */
export const response: IssuedOtp = {
  otpId: "otp-1",
  expiresAt: T0 + 5 * MINUTE,
  ttlMs: 5 * MINUTE,
  remainingRequests: 2,
  codeLength: 6,
};
