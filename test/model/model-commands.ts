import * as fc from "fast-check";
import { expect } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import { createOtpService } from "../../src/domain/otp-service.js";
import type { OtpStore } from "../../src/domain/otp-store.js";
import type { RandomSource } from "../../src/domain/ports.js";
import {
  createFakeClock,
  createRecordingSender,
  createRecordingSigner,
  createRecordingVerifier,
} from "../support/fakes.js";
import {
  type AccountInput,
  MODEL_POLICY,
  MODEL_SERVICE_TOKEN,
  type Outcome,
  ReferenceModel,
  type RequestInput,
} from "./reference-model.js";

// fast-check commands that drive the real domain service and its store, checking every answer
// against the reference model. Inputs come from small pools so that sequences hit the same
// mailboxes, purposes, keys and addresses again and again: limits, locks and replays only show
// up on repetition.

const T0 = Date.UTC(2026, 0, 1);
const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The service and what the test can see of its world. */
export interface System {
  readonly service: ReturnType<typeof createOtpService>;
  readonly store: OtpStore;
  readonly clock: ReturnType<typeof createFakeClock>;
  readonly sender: ReturnType<typeof createRecordingSender>;
}

/** Distinct codes in an order that looks random (7919 is prime to 10^6), so stale ≠ current. */
function createSequenceRandom(): RandomSource {
  let n = 0;
  let ids = 0;
  let tokens = 0;
  return {
    digits: (length) => String((++n * 7919 + 104_729) % 10 ** length).padStart(length, "0"),
    id: () => `otp-${++ids}`,
    token: () => `model-session-token-${String(++tokens).padStart(8, "0")}`,
  };
}

/** The real domain service over `store`, configured as the model is. */
export function createSystem(store: OtpStore): System {
  const clock = createFakeClock(T0);
  const sender = createRecordingSender();
  const service = createOtpService({
    store,
    clock,
    sender,
    random: createSequenceRandom(),
    policy: { ...MODEL_POLICY },
    hmacKey: new Uint8Array(32).fill(42),
    accessTokens: createRecordingSigner(),
    accessTokenVerifier: createRecordingVerifier(),
    tokenAuthority: { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" },
    serviceTokens: [MODEL_SERVICE_TOKEN],
  });
  return { service, store, clock, sender };
}

/** A fresh model for a fresh system. */
export const createModel = () => new ReferenceModel(T0);

type Verified = Awaited<ReturnType<System["service"]["verifyOtp"]>>;
type Status = Awaited<ReturnType<System["service"]["getStatus"]>>;

/**
 * The answer of a call as an Outcome, plus the otp id or the new session it carried; non-refusal
 * errors propagate.
 */
export async function outcomeOf(
  call: Promise<unknown>,
): Promise<{ outcome: Outcome; otpId?: string; session?: Verified["session"] }> {
  try {
    const value = (await call) as Record<string, unknown> | undefined;
    if (value === undefined) return { outcome: { ok: "signed-out" } };
    if (Array.isArray(value)) return { outcome: { ok: "sessions", sessions: value } };
    if ("otpId" in value) {
      const { otpId, ...rest } = value;
      return { outcome: { ok: "issued", ...rest } as Outcome, otpId: otpId as string };
    }
    if ("session" in value && "authenticated" in value) {
      const { authenticatedAt, session } = value as unknown as Required<Status>;
      return {
        outcome: {
          ok: "session",
          authenticatedAt,
          email: session.account.email ?? "",
          externalId: session.account.externalId ?? "",
          purpose: session.purpose,
          sessionId: session.sessionId,
          userId: session.userId,
          sessionExpiresAt: session.expiresAt,
          accessTokenExpiresAt: session.accessToken.expiresAt,
        },
      };
    }
    if ("authenticated" in value) return { outcome: { ok: "status", ...value } as Outcome };
    const verified = value as unknown as Verified;
    return {
      outcome: {
        ok: "verified",
        authenticatedAt: verified.authenticatedAt,
        sessionExpiresAt: verified.session.expiresAt,
        accessTokenExpiresAt: verified.accessToken.expiresAt,
      },
      session: verified.session,
    };
  } catch (error) {
    if (!(error instanceof OtpError)) throw error;
    const { kind, ...details } = error.refusal as { kind: string } & Record<string, unknown>;
    delete details.description;
    // The id of a code that was never delivered is the service's to choose; the model has none.
    delete details.otpId;
    return { outcome: { refused: kind, ...details } as Outcome };
  }
}

type Command = fc.AsyncCommand<ReferenceModel, System>;

// Two spellings of one mailbox, another mailbox, and one that is not an address.
// Malformed values are rare so that most sequences get deep into the rules.
const emails = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.constantFrom(
      "ann@example.com",
      "ann@example.com",
      "  Ann@EXAMPLE.com ",
      "bob@example.org",
    ),
  },
  { weight: 1, arbitrary: fc.constant("ann") },
);
const purposes = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom("", "login", "login", "reset") },
  { weight: 1, arbitrary: fc.constant("Reset!") },
);
const keys = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(undefined, undefined, "k-1", "k-2") },
  { weight: 1, arbitrary: fc.constant("bad key") },
);
const ips = fc.constantFrom(undefined, "10.0.0.1", "10.0.0.2");
// Accounts named by email (mostly) or by external id: one id twice as likely, one differing only
// in case (another account), one that is also a mailbox above (another account too); rarely a
// malformed id or both names at once.
const accounts: fc.Arbitrary<AccountInput> = fc.oneof(
  { weight: 14, arbitrary: emails.map((email) => ({ email })) },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      { externalId: "user-42" },
      { externalId: "user-42" },
      { externalId: "User-42" },
      { externalId: "ann@example.com" },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<AccountInput>(
      { externalId: "user 42" },
      { email: "ann@example.com", externalId: "user-42" },
    ),
  },
);

export class RequestOtp implements Command {
  constructor(
    readonly input: RequestInput,
    readonly deliveryFails: boolean,
  ) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const expected = model.requestOtp(this.input, this.deliveryFails);
    const { sent, sentToExternalIds } = system.sender;
    const deliveries = () => sent.length + sentToExternalIds.length;
    const sentBefore = deliveries();
    system.sender.fail(this.deliveryFails ? new Error("gateway down") : null);
    const actual = await outcomeOf(system.service.requestOtp(this.input)).finally(() =>
      system.sender.fail(null),
    );
    expect(actual.outcome).toEqual(expected.outcome);
    if (expected.replayOf !== undefined) expect(actual.otpId).toBe(expected.replayOf);
    if (!expected.issues) {
      expect(deliveries(), "no code is delivered").toBe(sentBefore);
      return;
    }
    expect(deliveries(), "one code is delivered").toBe(sentBefore + 1);
    const { externalId } = this.input;
    // To the account as it was named: an external id's code never goes to an email.
    const delivery = externalId ? sentToExternalIds.at(-1) : sent.at(-1);
    const otpId = actual.otpId as string;
    expect(model.seenOtpIds.has(otpId), "a new code has a new id").toBe(false);
    expect(delivery).toMatchObject({
      otpId,
      ...(externalId ? { externalId } : { email: ReferenceModel.email(this.input.email ?? "") }),
      purpose: ReferenceModel.purpose(this.input.purpose),
    });
    model.issued(this.input, otpId, delivery?.code as string, expected.outcome);
  }
  toString = () =>
    `RequestOtp(${JSON.stringify(this.input)}${this.deliveryFails ? ", undelivered" : ""})`;
}

type CodeChoice = "right" | "pasted" | "last-digit-wrong" | "other" | "stale" | "malformed";

/**
 * Which otp_id a verification names: none (unbound), the one its code came from, one the service
 * handed out for anything (foreign to this pair, mostly), one it never did, or a malformed one.
 */
type BindingChoice = "unbound" | "own" | { readonly seen: number } | "unknown" | "malformed";

class VerifyOtp implements Command {
  constructor(
    readonly account: AccountInput,
    readonly purpose: string,
    readonly choice: CodeChoice,
    readonly other: string,
    readonly binding: BindingChoice = "unbound",
    readonly clientIp?: string,
  ) {}
  /** The otp_id this attempt names (empty for unbound), picked from what the model saw. */
  private otpId(model: ReferenceModel): string {
    const account = ReferenceModel.account(this.account);
    const purpose = ReferenceModel.purpose(this.purpose);
    const pair =
      typeof account === "string" && purpose !== null ? model.pair(account, purpose) : null;
    const issued = pair?.issuedOtpIds ?? [];
    switch (this.binding) {
      case "unbound":
        return "";
      case "own":
        // The id of the code `code()` picks: the latest, or the one before for a stale code.
        return (this.choice === "stale" ? issued.at(-2) : issued.at(-1)) ?? "otp-0";
      case "unknown":
        return "otp-never-issued";
      case "malformed":
        return "not an id";
      default:
        return (
          [...model.seenOtpIds][this.binding.seen % Math.max(1, model.seenOtpIds.size)] ?? "otp-0"
        );
    }
  }
  check = () => true;
  /** The code this attempt sends, picked from what the account received. */
  private code(model: ReferenceModel): string {
    const account = ReferenceModel.account(this.account);
    const purpose = ReferenceModel.purpose(this.purpose);
    const pair =
      typeof account === "string" && purpose !== null ? model.pair(account, purpose) : null;
    const delivered = pair?.delivered ?? [];
    const current = delivered.at(-1) ?? this.other;
    switch (this.choice) {
      case "right":
        return current;
      case "pasted":
        return ` ${current}\n`;
      case "last-digit-wrong":
        return current.slice(0, -1) + String((Number(current.at(-1)) + 1) % 10);
      case "stale":
        return delivered.at(-2) ?? this.other;
      case "malformed":
        return `${this.other.slice(1)}x`;
      case "other":
        return this.other;
    }
  }
  async run(model: ReferenceModel, system: System) {
    const input = {
      ...this.account,
      purpose: this.purpose,
      otp: this.code(model),
      otpId: this.otpId(model),
      ...(this.clientIp === undefined ? {} : { clientIp: this.clientIp }),
    };
    const expected = model.verifyOtp(input);
    const actual = await outcomeOf(system.service.verifyOtp(input));
    expect(actual.outcome).toEqual(expected);
    if (actual.session !== undefined) {
      const { token, sessionId, userId } = actual.session;
      expect(model.sessions.some((s) => s.token === token || s.sessionId === sessionId)).toBe(
        false,
      );
      model.sessionStarted(input, { token, sessionId, userId });
    }
  }
  toString = () =>
    `VerifyOtp(${JSON.stringify(this.account)}, ${JSON.stringify(this.purpose)}, ${this.choice}, ${this.other}, ${JSON.stringify(this.binding)}, ${this.clientIp})`;
}

/**
 * A sign-in as a client makes it: a request, then its code with its otp_id, each checked against
 * the model. Random requests and verifications seldom meet, and sessions are what
 * ListSessions and SignOut of another device need, several of one user at once.
 */
class SignIn implements Command {
  constructor(
    readonly account: AccountInput,
    readonly purpose: string,
    readonly clientIp?: string,
  ) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const ip = this.clientIp === undefined ? {} : { clientIp: this.clientIp };
    await new RequestOtp({ ...this.account, purpose: this.purpose, ...ip }, false).run(
      model,
      system,
    );
    await new VerifyOtp(this.account, this.purpose, "right", "000000", "own", this.clientIp).run(
      model,
      system,
    );
  }
  toString = () =>
    `SignIn(${JSON.stringify(this.account)}, ${JSON.stringify(this.purpose)}, ${this.clientIp})`;
}

class GetStatus implements Command {
  constructor(readonly account: AccountInput) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const expected = model.getStatus(this.account);
    const actual = await outcomeOf(
      system.service.getStatus({ ...this.account, serviceToken: MODEL_SERVICE_TOKEN }),
    );
    expect(actual.outcome).toEqual(expected);
  }
  toString = () => `GetStatus(${JSON.stringify(this.account)})`;
}

/** Which token a session command sends: one a verification answered, or one it never did. */
type TokenChoice = { readonly known: number } | "unknown" | "malformed";

function tokenFor(model: ReferenceModel, choice: TokenChoice): string {
  if (choice === "malformed") return "not a session token";
  const known =
    typeof choice === "object"
      ? // Newest first: the latest sessions are the ones likely still live.
        model.sessions.at(-1 - (choice.known % Math.max(1, model.sessions.length)))
      : undefined;
  return known?.token ?? "unknown-session-token-0000000";
}

class GetSessionStatus implements Command {
  constructor(readonly choice: TokenChoice) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const sessionToken = tokenFor(model, this.choice);
    const expected = model.sessionStatus(sessionToken);
    const actual = await outcomeOf(system.service.getStatus({ email: "", sessionToken }));
    expect(actual.outcome).toEqual(expected);
  }
  toString = () => `GetSessionStatus(${JSON.stringify(this.choice)})`;
}

class SignOut implements Command {
  constructor(
    readonly choice: TokenChoice,
    readonly allSessions: boolean,
  ) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const sessionToken = tokenFor(model, this.choice);
    const expected = model.signOut(sessionToken, this.allSessions);
    const actual = await outcomeOf(
      system.service.signOut({ sessionToken, allSessions: this.allSessions }),
    );
    expect(actual.outcome).toEqual(expected);
  }
  toString = () => `SignOut(${JSON.stringify(this.choice)}, all=${this.allSessions})`;
}

class ListSessions implements Command {
  constructor(readonly choice: TokenChoice) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const sessionToken = tokenFor(model, this.choice);
    const expected = model.listSessions(sessionToken);
    const actual = await outcomeOf(system.service.listSessions({ sessionToken }));
    expect(actual.outcome).toEqual(expected);
  }
  toString = () => `ListSessions(${JSON.stringify(this.choice)})`;
}

/**
 * Which session a SignOut of another device names: one of the token's own user (mostly another
 * device), any session started (often another user's), one never started, or a malformed id.
 */
type DeviceChoice =
  | { readonly sibling: number }
  | { readonly known: number }
  | "unknown"
  | "malformed";

function sessionIdFor(model: ReferenceModel, token: string, choice: DeviceChoice): string {
  if (choice === "unknown") return "session-never-started";
  if (choice === "malformed") return "not an id";
  const owner = model.sessions.find((s) => s.token === token);
  const pool =
    "sibling" in choice
      ? model.sessions.filter((s) => s.account === owner?.account)
      : model.sessions;
  const index = "sibling" in choice ? choice.sibling : choice.known;
  return pool.at(index % Math.max(1, pool.length))?.sessionId ?? "session-never-started";
}

class SignOutDevice implements Command {
  constructor(
    readonly choice: TokenChoice,
    readonly device: DeviceChoice,
    readonly allSessions: boolean,
  ) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    const sessionToken = tokenFor(model, this.choice);
    const sessionId = sessionIdFor(model, sessionToken, this.device);
    const expected = model.signOut(sessionToken, this.allSessions, sessionId);
    const actual = await outcomeOf(
      system.service.signOut({ sessionToken, allSessions: this.allSessions, sessionId }),
    );
    expect(actual.outcome).toEqual(expected);
  }
  toString = () =>
    `SignOutDevice(${JSON.stringify(this.choice)}, ${JSON.stringify(this.device)}, all=${this.allSessions})`;
}

const deviceChoices = fc.oneof(
  { weight: 6, arbitrary: fc.nat(3).map((sibling): DeviceChoice => ({ sibling })) },
  { weight: 3, arbitrary: fc.nat(7).map((known): DeviceChoice => ({ known })) },
  { weight: 1, arbitrary: fc.constantFrom<DeviceChoice>("unknown", "malformed") },
);

const tokenChoices = fc.oneof(
  { weight: 8, arbitrary: fc.nat(7).map((known) => ({ known })) },
  { weight: 1, arbitrary: fc.constantFrom<TokenChoice>("unknown", "malformed") },
);

class AdvanceClock implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    model.now += this.ms;
    system.clock.advance(this.ms);
  }
  toString = () => `AdvanceClock(${this.ms})`;
}

class Purge implements Command {
  check = () => true;
  async run(model: ReferenceModel, system: System) {
    model.purge();
    await system.store.purgeExpired(system.clock.now());
  }
  toString = () => "Purge";
}

// Exactly on and just around the policy's edges (TTL, lockout, windows, session), and anywhere.
const advances = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      1,
      SECOND,
      MINUTE - 1,
      MINUTE,
      5 * MINUTE - 1,
      5 * MINUTE,
      10 * MINUTE,
      15 * MINUTE,
      30 * MINUTE - 1,
      30 * MINUTE,
      60 * MINUTE,
      24 * 60 * MINUTE,
    ),
  },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 10 * MINUTE }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 26 * 60 * MINUTE }) },
);

const requestOtp = fc
  .tuple(accounts, fc.record({ purpose: purposes, idempotencyKey: keys, clientIp: ips }), fc.nat(9))
  // One request in ten finds the sender failing.
  .map(
    ([account, input, dice]) =>
      new RequestOtp({ ...account, ...stripUndefined(input) }, dice === 0),
  );

const verifyOtp = fc
  .tuple(
    accounts,
    purposes,
    fc.constantFrom<CodeChoice>(
      "right",
      "pasted",
      "last-digit-wrong",
      "last-digit-wrong",
      "other",
      "stale",
      "malformed",
    ),
    fc.stringMatching(/^[0-9]{6}$/),
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom<BindingChoice>("unbound", "own", "own") },
      { weight: 2, arbitrary: fc.nat(15).map((seen): BindingChoice => ({ seen })) },
      { weight: 1, arbitrary: fc.constantFrom<BindingChoice>("unknown", "malformed") },
    ),
    ips,
  )
  .map(
    ([account, purpose, choice, other, binding, ip]) =>
      new VerifyOtp(account, purpose, choice, other, binding, ip),
  );

/** The commands of one random session against the service (verifications twice as likely). */
export function commands(maxCommands: number) {
  return fc.commands(
    [
      requestOtp,
      verifyOtp,
      verifyOtp,
      accounts.map((account) => new GetStatus(account)),
      tokenChoices.map((choice) => new GetSessionStatus(choice)),
      fc.tuple(tokenChoices, fc.boolean()).map(([choice, all]) => new SignOut(choice, all)),
      fc
        .tuple(
          fc.constantFrom<AccountInput>(
            { email: "ann@example.com" },
            { email: "ann@example.com" },
            { email: "bob@example.org" },
            { externalId: "user-42" },
          ),
          fc.constantFrom("login", "login", "reset"),
          ips,
        )
        .map(([account, purpose, ip]) => new SignIn(account, purpose, ip)),
      tokenChoices.map((choice) => new ListSessions(choice)),
      // One in ten also asks for all sessions: refused, naming session_id.
      fc
        .tuple(tokenChoices, deviceChoices, fc.nat(9))
        .map(([choice, device, dice]) => new SignOutDevice(choice, device, dice === 0)),
      advances.map((ms) => new AdvanceClock(ms)),
      fc.constant(new Purge()),
    ],
    // "max" lets sequences run long enough to reach limits, locks and session ends.
    { maxCommands, size: "max" },
  );
}

function stripUndefined(input: Record<string, string | undefined>): RequestInput {
  return Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as unknown as RequestInput;
}
