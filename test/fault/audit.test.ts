import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  type AuditPolicy,
  audit,
  type DatabaseState,
  type Fault,
  type LedgerEntry,
} from "../support/audit.js";

// The audit must be able to fail: each check is fed a ledger doctored to break its invariant.

const policy: AuditPolicy = {
  requestLimit: { count: 2, windowMs: 10_000 },
  maxAttempts: 3,
  lockoutMs: 60_000,
  recoveryMs: 5_000,
};

const EMAIL = "ada@example.com";

function entry(
  rpc: LedgerEntry["rpc"],
  at: number,
  outcome: LedgerEntry["outcome"],
  more: Partial<LedgerEntry> = {},
): LedgerEntry {
  return {
    rpc,
    email: EMAIL,
    purpose: "login",
    instance: 0,
    startedAt: at,
    endedAt: at + 10,
    outcome,
    ...more,
  };
}

const issued = (at: number, otpId: string) =>
  entry("RequestOtp", at, { ok: true, issuedAt: at + 5 }, { otpId });
const verified = (at: number, otpId: string, instance = 0) =>
  entry(
    "VerifyOtp",
    at,
    { ok: true, authenticated: true, authenticatedAt: at + 5 },
    { otpId, instance },
  );
const refused = (rpc: LedgerEntry["rpc"], at: number, reason: string, code: Code, more = {}) =>
  entry(rpc, at, { ok: false, code, reason, ...more });
const mismatch = (at: number) => refused("VerifyOtp", at, "OTP_MISMATCH", Code.Unauthenticated);
const locked = (at: number) =>
  refused("VerifyOtp", at, "OTP_LOCKED", Code.ResourceExhausted, { retryAfterSeconds: 30 });

// A run that holds every invariant: two codes, one verified, a lock after three wrong codes, a
// storage refusal during a database fault, and one recovery answer from each instance after it.
const fault: Fault = { kind: "db-stop", from: 3_000, to: 3_500 };
const honest: LedgerEntry[] = [
  issued(1_000, "a"),
  verified(1_100, "a"),
  refused("VerifyOtp", 1_200, "OTP_ALREADY_USED", Code.FailedPrecondition, { instance: 1 }),
  issued(1_300, "b"),
  mismatch(1_400),
  mismatch(1_500),
  locked(1_600),
  refused("GetStatus", 3_100, "STORAGE_UNAVAILABLE", Code.Unavailable),
  entry("GetStatus", 3_600, { ok: true, authenticated: true }),
  entry("GetStatus", 3_700, { ok: true, authenticated: true }, { instance: 1 }),
];

const database: DatabaseState = {
  now: 4_000,
  slots: new Map([
    [
      EMAIL,
      [
        { id: "a", exp: 11_005 },
        { id: "b", exp: 11_305 },
      ],
    ],
  ]),
  authenticatedAt: new Map([[EMAIL, 1_105]]),
  sessions: new Map(),
  events: [requestedEvent(), requestedEvent()],
};

function requestedEvent() {
  return { type: "otp.requested", email: EMAIL, sessionId: "" };
}
const sessionEvent = (type: string, sessionId: string) => ({ type, email: EMAIL, sessionId });

// The honest run with sessions: s1 (from the first verification) signed out, and s2 (a bound
// verification during the unbound lock) live.
const signOut = (at: number, sessionId: string, more: Partial<LedgerEntry> = {}) =>
  entry("SignOut", at, { ok: true }, { sessionId, sessionIds: [sessionId], ...more });
const signedIn: LedgerEntry[] = [
  ...honest.map((e) => (e === honest[1] ? { ...e, sessionId: "s1" } : e)),
  entry(
    "VerifyOtp",
    1_800,
    { ok: true, authenticated: true, authenticatedAt: 1_805 },
    { otpId: "b", boundTo: "b", sessionId: "s2" },
  ),
  signOut(2_000, "s1"),
];
const sessionsDatabase: DatabaseState = {
  ...database,
  authenticatedAt: new Map([[EMAIL, 1_805]]),
  sessions: new Map([
    ["s1", { email: EMAIL, revoked: true }],
    ["s2", { email: EMAIL, revoked: false }],
  ]),
  events: [
    ...database.events,
    sessionEvent("session.created", "s1"),
    sessionEvent("session.created", "s2"),
    sessionEvent("session.revoked", "s1"),
  ],
};
const sessionStatuses = new Map([
  ["s1", false],
  ["s2", true],
]);

function violations(
  ledger: LedgerEntry[],
  overrides: {
    database?: DatabaseState;
    statuses?: Map<string, boolean>;
    sessionStatuses?: Map<string, boolean>;
    faults?: Fault[];
  } = {},
) {
  return audit({
    ledger,
    faults: overrides.faults ?? [fault],
    instances: 2,
    statuses: overrides.statuses ?? new Map([[EMAIL, true]]),
    sessionStatuses: overrides.sessionStatuses ?? new Map(),
    database: overrides.database ?? database,
    policy,
  }).violations;
}

describe("the fault audit", () => {
  it("finds nothing wrong with a run that kept every invariant", () => {
    expect(Object.values(violations(honest)).flat()).toEqual([]);
  });

  it("catches a code verified twice, on two instances", () => {
    expect(violations([...honest, verified(1_150, "a", 1)])["no code verified twice"]).toHaveLength(
      1,
    );
  });

  it("catches more codes issued in a window than the limit", () => {
    expect(violations([...honest, issued(1_400, "c")])["request limit held"]).toHaveLength(1);
  });

  it("counts a replayed idempotency key as no new code, even inside a lock", () => {
    const keyed = { idempotencyKey: "k1" };
    const replays = [
      entry("RequestOtp", 1_300, { ok: true, issuedAt: 1_305 }, { otpId: "b", ...keyed }),
      entry(
        "RequestOtp",
        1_350,
        { ok: true, issuedAt: 1_305 },
        { otpId: "b", ...keyed, replay: true },
      ),
      entry(
        "RequestOtp",
        1_700,
        { ok: true, issuedAt: 1_305 },
        { otpId: "b", ...keyed, replay: true },
      ),
    ];
    const ledger = [...honest.filter((e) => e.otpId !== "b"), ...replays];
    expect(Object.values(violations(ledger)).flat()).toEqual([]);
  });

  it("catches an idempotency key answered with two different codes", () => {
    const keyed = { idempotencyKey: "k1" };
    const ledger = [
      ...honest,
      entry("RequestOtp", 1_310, { ok: true, issuedAt: 1_305 }, { otpId: "b", ...keyed }),
      entry("RequestOtp", 1_320, { ok: true, issuedAt: 1_315 }, { otpId: "c", ...keyed }),
    ];
    expect(violations(ledger)["idempotent retries replayed"]).toEqual([
      `${EMAIL} k1: answered with b, c`,
    ]);
  });

  it("catches otp_slots disagreeing with the issued codes", () => {
    const lost = { ...database, slots: new Map([[EMAIL, [{ id: "b", exp: 11_305 }]]]) };
    expect(violations(honest, { database: lost })["otp_slots agrees"]).toEqual([
      `${EMAIL}: issued otp a holds no slot in otp_slots`,
    ]);
  });

  it("catches a success while the pair was locked", () => {
    expect(violations([...honest, verified(2_000, "b")])["no success while locked"]).toHaveLength(
      1,
    );
  });

  it("allows a request and a bound verification during an unbound lock", () => {
    const during = [
      ...honest,
      issued(1_700, "c"),
      entry(
        "VerifyOtp",
        1_800,
        { ok: true, authenticated: true, authenticatedAt: 1_805 },
        { otpId: "c", boundTo: "c" },
      ),
    ];
    expect(violations(during)["no success while locked"]).toEqual([]);
  });

  it("catches a bound verification that succeeded with another request's code", () => {
    const crossed = entry(
      "VerifyOtp",
      2_000,
      { ok: true, authenticated: true, authenticatedAt: 2_005 },
      { otpId: "a", boundTo: "b" },
    );
    expect(violations([...honest, crossed])["a bound code is judged alone"]).toHaveLength(1);
  });

  it("catches a third wrong code at one bound code that did not lock it", () => {
    const bound = (at: number) =>
      entry(
        "VerifyOtp",
        at,
        { ok: false, code: Code.Unauthenticated, reason: "OTP_MISMATCH" },
        { boundTo: "b" },
      );
    const two = [...honest, bound(1_410), bound(1_420)];
    expect(violations(two)["no lockout skipped"]).toEqual([]);
    expect(violations([...two, bound(1_430)])["no lockout skipped"]).toEqual([
      `${EMAIL} login b: 3 wrong codes answered OTP_MISMATCH for one code`,
    ]);
  });

  it("catches a third wrong code that did not lock", () => {
    const skipped = honest.map((e) => (e === honest[6] ? mismatch(1_600) : e));
    expect(violations(skipped)["no lockout skipped"]).toHaveLength(1);
  });

  it("catches an authentication lost, by GetStatus or in otp_users", () => {
    const forgotten = { ...database, authenticatedAt: new Map([[EMAIL, null]]) };
    const found = violations(honest, {
      database: forgotten,
      statuses: new Map([[EMAIL, false]]),
    })["authenticated state kept"];
    expect(found).toHaveLength(2);
  });

  it("catches INTERNAL, and storage or connection errors no fault explains", () => {
    const unexplained = [
      ...honest,
      refused("GetStatus", 2_000, "STORAGE_UNAVAILABLE", Code.Unavailable),
      entry("VerifyOtp", 3_200, { ok: false, code: Code.Internal, message: "internal error" }),
      entry("VerifyOtp", 3_300, { ok: false, code: Code.Unavailable, message: "read ECONNRESET" }),
    ];
    expect(violations(unexplained)["every error explained"]).toHaveLength(3);
  });

  it("explains a retry's deadline only while its key's holder was cut by a killed instance", () => {
    const kill: Fault = { kind: "kill", instance: 0, from: 3_000, to: 3_500 };
    const keyed = { idempotencyKey: "k1" };
    const cut = entry(
      "RequestOtp",
      3_050,
      { ok: false, code: Code.Unavailable, message: "read ECONNRESET" },
      keyed,
    );
    const retry = entry(
      "RequestOtp",
      3_100,
      { ok: false, code: Code.DeadlineExceeded, message: "the operation timed out" },
      { ...keyed, instance: 1 },
    );
    const explained = (ledger: LedgerEntry[]) =>
      violations(ledger, { faults: [fault, kill] })["every error explained"];

    expect(explained([...honest, cut, retry])).toEqual([]);
    expect(explained([...honest, retry])).toHaveLength(1);
  });

  it("catches an instance that never answered OK after a fault", () => {
    const silent = honest.filter((e) => !(e.instance === 1 && e.startedAt > fault.to));
    expect(violations(silent)["recovered after each fault"]).toHaveLength(1);
  });

  it("finds nothing wrong with sessions started, signed out and audited as they happened", () => {
    const found = violations(signedIn, { database: sessionsDatabase, sessionStatuses });
    expect(Object.values(found).flat()).toEqual([]);
  });

  it("catches an acknowledged SignOut whose session is still authenticated", () => {
    const found = violations(signedIn, {
      database: sessionsDatabase,
      sessionStatuses: new Map([
        ["s1", true],
        ["s2", true],
      ]),
    })["acknowledged revokes held"];
    expect(found).toHaveLength(1);
  });

  it("holds all_sessions to every earlier session, but a dead token only to itself", () => {
    const all = signOut(2_100, "s2", { allSessions: true, sessionIds: ["s1", "s2"] });
    const ledger = [...signedIn.filter((e) => e.rpc !== "SignOut"), all];
    const revokedBoth: DatabaseState = {
      ...sessionsDatabase,
      sessions: new Map([
        ["s1", { email: EMAIL, revoked: true }],
        ["s2", { email: EMAIL, revoked: true }],
      ]),
      events: [...sessionsDatabase.events, sessionEvent("session.revoked", "s2")],
    };
    const run = (statuses: [string, boolean][], more: LedgerEntry[] = []) =>
      violations([...ledger, ...more], {
        database: revokedBoth,
        statuses: new Map([[EMAIL, false]]),
        sessionStatuses: new Map(statuses),
      });
    const bothEnded = run([
      ["s1", false],
      ["s2", false],
    ]);
    expect(Object.values(bothEnded).flat()).toEqual([]);
    expect(
      run([
        ["s1", true],
        ["s2", false],
      ])["acknowledged revokes held"],
    ).toHaveLength(1);
    // s2 signed out before (answer lost): its all_sessions SignOut then ends only itself.
    const earlier = entry(
      "SignOut",
      2_050,
      { ok: false, code: Code.Unavailable, message: "read ECONNRESET" },
      { sessionId: "s2", sessionIds: ["s2"] },
    );
    const kill: Fault = { kind: "kill", instance: 0, from: 2_000, to: 2_060 };
    const found = audit({
      ledger: [...ledger, earlier],
      faults: [fault, kill],
      instances: 2,
      statuses: new Map([[EMAIL, false]]),
      sessionStatuses: new Map([
        ["s1", true],
        ["s2", false],
      ]),
      database: revokedBoth,
      policy,
    }).violations;
    expect(found["acknowledged revokes held"]).toEqual([]);
  });

  it("catches session events without their change, and changes without their event", () => {
    const doctored = (events: DatabaseState["events"], ledger = signedIn) =>
      violations(ledger, {
        database: { ...sessionsDatabase, events },
        sessionStatuses,
      })["audit events match changes"];
    const kept = sessionsDatabase.events.filter(
      (e) => !(e.type === "session.created" && e.sessionId === "s2"),
    );
    expect(doctored(kept)).toEqual([`${EMAIL}: session s2 has 0 session.created events`]);
    expect(doctored([...sessionsDatabase.events, sessionEvent("session.revoked", "s2")])).toEqual([
      `${EMAIL}: session s2, live, has 1 session.revoked events`,
    ]);
    expect(doctored([...sessionsDatabase.events, sessionEvent("session.created", "s9")])).toEqual([
      `${EMAIL}: session.created names session s9, not one of its sessions in otp_sessions`,
    ]);
    expect(
      doctored(sessionsDatabase.events, [
        ...signedIn,
        { ...(signedIn[1] as LedgerEntry), sessionId: "s3", startedAt: 2_500, endedAt: 2_510 },
      ]),
    ).toContain(`${EMAIL}: session s3 answered at 2500 is not in otp_sessions`);
  });

  it("catches otp.requested events fewer than the codes issued or more than the calls", () => {
    const withRequested = (count: number) =>
      violations(honest, {
        database: { ...database, events: Array.from({ length: count }, requestedEvent) },
      })["audit events match changes"];
    expect(withRequested(1)).toEqual([
      `${EMAIL}: 1 otp.requested events for 2 codes issued in 2 calls`,
    ]);
    expect(withRequested(3)).toHaveLength(1);
  });
});
