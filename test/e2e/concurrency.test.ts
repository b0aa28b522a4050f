import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  RequestOtpRequestSchema,
  type RequestOtpResponse,
  VerifyOtpRequestSchema,
  type VerifyOtpResponse,
} from "../../gen/auth/v1/auth_pb.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createAuthClient, createGrpcJsClient, detailsOf, protocols } from "../support/clients.js";
import { createGatedStore } from "../support/fakes.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// SPEC.md "Concurrency guarantees", against the real server over real sockets. Each race fires
// N calls at once, spread over every client kind, and holds them at the store's first step until
// all N have arrived (createGatedStore), so they really are inside the service together: without
// that, each small request would finish before the next one's bytes were read.

const N = 20;

/** One kind of client; all of them reject with a ConnectError carrying the server's details. */
interface Caller {
  readonly name: string;
  requestOtp(email: string, idempotencyKey?: string): Promise<RequestOtpResponse>;
  verifyOtp(email: string, otp: string, otpId?: string): Promise<VerifyOtpResponse>;
  close(): void;
}

function connectCaller(protocol: (typeof protocols)[number], baseUrl: string): Caller {
  const client = createAuthClient(protocol, baseUrl);
  return {
    name: protocol,
    requestOtp: (email, key) =>
      client.requestOtp(
        { email },
        key === undefined ? {} : { headers: { "idempotency-key": key } },
      ),
    verifyOtp: (email, otp, otpId) => client.verifyOtp({ email, otp, otpId }),
    close() {},
  };
}

function grpcJsCaller(port: number): Caller {
  const client = createGrpcJsClient(port);
  const unary = <T>(method: string, request: unknown, metadata = new grpc.Metadata()) =>
    new Promise<T>((resolve, reject) => {
      client[method]?.(request, metadata, (error: grpc.ServiceError | null, response: T) => {
        if (error === null) {
          resolve(response);
        } else {
          reject(fromGrpcJsError(error));
        }
      });
    });
  return {
    name: "grpc-js",
    requestOtp(email, key) {
      const metadata = new grpc.Metadata();
      if (key !== undefined) {
        metadata.set("idempotency-key", key);
      }
      return unary("RequestOtp", create(RequestOtpRequestSchema, { email }), metadata);
    },
    verifyOtp: (email, otp, otpId) =>
      unary("VerifyOtp", create(VerifyOtpRequestSchema, { email, otp, otpId })),
    close: () => client.close(),
  };
}

/** A grpc-js error read the way connect reads a gRPC trailer, details included. */
function fromGrpcJsError(error: grpc.ServiceError): ConnectError {
  const trailer = new Headers({
    "grpc-status": String(error.code),
    "grpc-message": encodeURIComponent(error.details),
  });
  const [details] = error.metadata.get("grpc-status-details-bin");
  if (details instanceof Buffer) {
    trailer.set("grpc-status-details-bin", details.toString("base64"));
  }
  return findTrailerError(trailer) ?? new ConnectError(error.message, Code.Unknown);
}

interface Outcome<T> {
  /** "OK", or the ErrorInfo reason and the status code, e.g. "OTP_LOCKED ResourceExhausted". */
  readonly verdict: string;
  readonly response?: T;
  readonly error?: ConnectError;
}

async function outcomeOf<T>(call: Promise<T>): Promise<Outcome<T>> {
  try {
    return { verdict: "OK", response: await call };
  } catch (e) {
    const error = ConnectError.from(e);
    const reason = detailsOf(error).errorInfo?.reason ?? "(no ErrorInfo)";
    return { verdict: `${reason} ${Code[error.code]}`, error };
  }
}

/** How many outcomes had each verdict. */
function tally(outcomes: readonly Outcome<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { verdict } of outcomes) {
    counts[verdict] = (counts[verdict] ?? 0) + 1;
  }
  return counts;
}

let server: TestServer | undefined;
let callers: Caller[] = [];

afterEach(async () => {
  for (const caller of callers) {
    caller.close();
  }
  callers = [];
  await server?.close();
  server = undefined;
});

async function startRaceServer(env: Record<string, string>, codes?: string[]) {
  const gated = createGatedStore(createMemoryStore());
  server = await startTestServer(
    { SERVICE_TOKENS: SERVICE_TOKEN, ...env },
    { store: gated.store, ...(codes ? { codes } : {}) },
  );
  callers = [
    ...protocols.map((protocol) => connectCaller(protocol, (server as TestServer).baseUrl)),
    grpcJsCaller(server.port),
  ];
  return { server, gate: gated };
}

/** The i-th client, round-robin over every kind. */
function callerAt(i: number): Caller {
  return callers[i % callers.length] as Caller;
}

/** Starts `n` calls at once, round-robin over every kind of client, and collects their outcomes. */
function race<T>(
  n: number,
  call: (caller: Caller, i: number) => Promise<T>,
): Promise<Outcome<T>[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => outcomeOf(call(callerAt(i), i))));
}

describe("concurrent requests against one server", () => {
  it("of N simultaneous verifications with the right code exactly one wins, the rest hear the code was used", async () => {
    // Guard: consumeCode's `code.usedAt !== null` check, made in the same synchronous step as
    // `code.usedAt = use.now`, so only the first of the racing consumers finds the code unused.
    // Unbound too, a verification tries that step first (finding the latest code by its key).
    const { server, gate } = await startRaceServer({});
    const email = "race-verify@example.com";
    await callerAt(0).requestOtp(email);
    const code = server.sender.lastCodeFor(email);

    gate.holdUntil("consumeCode", N);
    const outcomes = await race(N, (caller) => caller.verifyOtp(email, code));

    expect(tally(outcomes)).toEqual({ OK: 1, "OTP_ALREADY_USED FailedPrecondition": N - 1 });
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    expect((await client.getStatus({ email }, asService)).authenticated).toBe(true);
  });

  it("of N simultaneous verifications bound to one request's code exactly one wins", async () => {
    // Guard: consumeCode's check that the code is unused, in the same step that marks it used.
    // Bound, a verification tries that step first, before any read; the losers then read why.
    const { server, gate } = await startRaceServer({});
    const email = "race-bound@example.com";
    const { otpId } = await callerAt(0).requestOtp(email);
    const code = server.sender.lastCodeFor(email);
    // A newer code does not replace a bound one.
    await callerAt(1).requestOtp(email);

    gate.holdUntil("consumeCode", N);
    const outcomes = await race(N, (caller) => caller.verifyOtp(email, code, otpId));

    expect(tally(outcomes)).toEqual({ OK: 1, "OTP_ALREADY_USED FailedPrecondition": N - 1 });
  });

  /**
   * Sends N - 1 wrong codes for `email` (bound to `otpId` if given), waits until they are lined up
   * at the store's first step, then sends the right one ("246810") behind them; answers their
   * tally, its verdict, and whether the email is signed in afterwards.
   */
  async function rightBehindWrong(
    { server, gate }: Awaited<ReturnType<typeof startRaceServer>>,
    email: string,
    otpId?: string,
  ) {
    const lineUp = gate.holdUntil("consumeCode", N);
    const wrong = race(N - 1, (caller) => caller.verifyOtp(email, "135790", otpId));
    await lineUp.arrived(N - 1);
    const right = await outcomeOf(callerAt(N - 1).verifyOtp(email, "246810", otpId));
    const client = createAuthClient("connect-json-h1", server.baseUrl);
    return {
      wrong: tally(await wrong),
      right: right.verdict,
      signedIn: (await client.getStatus({ email }, asService)).authenticated,
    };
  }

  it("a right code bound to one request, lined up behind N - 1 wrong ones, finds the code dead", async () => {
    // Guard: consumeCode counts a keyed attempt's wrong code in the step that compares it, so
    // the three wrong attempts ahead kill the code before the right one is compared. (A first
    // step that compared without counting, counting after a read, let it sign in.)
    const started = await startRaceServer({}, ["246810"]);
    const email = "race-bound-guess@example.com";
    const { otpId } = await callerAt(0).requestOtp(email);

    expect(await rightBehindWrong(started, email, otpId)).toEqual({
      wrong: {
        "OTP_MISMATCH Unauthenticated": 2,
        "OTP_LOCKED ResourceExhausted": 1,
        "OTP_NOT_FOUND NotFound": N - 4,
      },
      right: "OTP_NOT_FOUND NotFound",
      signedIn: false,
    });
  });

  it("a right code, unbound, lined up behind N - 1 wrong ones, finds the pair locked", async () => {
    // Guard: the same step, unbound: the third wrong attempt ahead locks the pair.
    const started = await startRaceServer({}, ["246810"]);
    const email = "race-unbound-guess@example.com";
    await callerAt(0).requestOtp(email);

    expect(await rightBehindWrong(started, email)).toEqual({
      wrong: { "OTP_MISMATCH Unauthenticated": 2, "OTP_LOCKED ResourceExhausted": N - 3 },
      right: "OTP_LOCKED ResourceExhausted",
      signedIn: false,
    });
  });

  it("N simultaneous wrong codes bound to one request count exactly against that code and the account", async () => {
    // Guard: consumeCode, handed the key of a wrong code, bumps the code's count only while it is
    // under the limit, in the step that compared it and that also adds the account's failure;
    // the third kills the code.
    const { server, gate } = await startRaceServer({}, ["246810"]);
    const email = "race-bound-wrong@example.com";
    const { otpId } = await callerAt(0).requestOtp(email);

    gate.holdUntil("consumeCode", N);
    const outcomes = await race(N, (caller) => caller.verifyOtp(email, "135790", otpId));

    expect(tally(outcomes)).toEqual({
      "OTP_MISMATCH Unauthenticated": 2,
      "OTP_LOCKED ResourceExhausted": 1,
      "OTP_NOT_FOUND NotFound": N - 3,
    });
    // The account took three failures, no more.
    const state = await gate.store.readOtpState({
      email,
      purpose: "login",
      otpId,
      now: server.clock.now(),
      failureWindowMs: 24 * 60 * 60_000,
    });
    expect(state.failures).toHaveLength(3);
    expect(state.code?.failures).toBe(3);
  });

  it("N simultaneous wrong codes are counted exactly: two mismatches, every other attempt is locked out", async () => {
    // Guard: the failure count (memory-store.ts countFailure, which consumeCode runs for a keyed
    // attempt's wrong code) checks the lock (`lockOf`) and bumps `record.failures` in the
    // synchronous step that compared the code, so no failure after the locking one is counted
    // into a fresh count.
    const { server, gate } = await startRaceServer({ OTP_MAX_ATTEMPTS: "3" }, ["246810"]);
    const email = "race-wrong@example.com";
    await callerAt(0).requestOtp(email);

    gate.holdUntil("consumeCode", N);
    const outcomes = await race(N, (caller) => caller.verifyOtp(email, "135790"));

    expect(tally(outcomes)).toEqual({
      "OTP_MISMATCH Unauthenticated": 2,
      "OTP_LOCKED ResourceExhausted": N - 2,
    });
    const remaining = outcomes
      .filter((o) => o.verdict.startsWith("OTP_MISMATCH"))
      .map((o) => detailsOf(o.error as ConnectError).errorInfo?.metadata.attempts_remaining)
      .sort();
    expect(remaining).toEqual(["1", "2"]);

    const late = await outcomeOf(callerAt(1).verifyOtp(email, "246810"));
    expect(late.verdict).toBe("OTP_LOCKED ResourceExhausted");
    server.clock.advance(10 * 60_000);
    const afterLock = await outcomeOf(callerAt(2).verifyOtp(email, "246810"));
    expect(afterLock.verdict).toBe("OTP_NOT_FOUND NotFound");
  });

  it("N simultaneous code requests for one email issue exactly the limit, and only one code works afterwards", async () => {
    // Guard: takeSlots filters the live slots, compares with the limits and appends the new slot
    // in one synchronous step, so concurrent takers cannot all see a free slot. That one code is
    // active (for unbound verification) rests on the latest activated code being the one read.
    const { server, gate } = await startRaceServer(
      { OTP_REQUEST_LIMIT: "3/1h", OTP_IP_REQUEST_LIMIT: "off", OTP_MAX_ATTEMPTS: "100" },
      ["111111", "222222", "333333"],
    );
    const email = "race-request@example.com";

    gate.holdUntil("takeSlots", N);
    const outcomes = await race(N, (caller) => caller.requestOtp(email));

    expect(tally(outcomes)).toEqual({ OK: 3, "OTP_REQUEST_LIMIT ResourceExhausted": N - 3 });
    const remaining = outcomes.flatMap((o) => (o.response ? [o.response.remainingRequests] : []));
    expect(remaining.sort()).toEqual([0, 1, 2]);
    const delivered = server.sender.sent.filter((d) => d.email === email).map((d) => d.code);
    expect(delivered).toHaveLength(3);

    // Tried in delivery order: replaced codes are plain wrong codes, the active one verifies, and
    // after it everything hears that the (one) active code is used.
    const verdicts: string[] = [];
    for (const code of delivered) {
      verdicts.push((await outcomeOf(callerAt(0).verifyOtp(email, code))).verdict);
    }
    const winner = verdicts.indexOf("OK");
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(verdicts).toEqual(
      delivered.map((_, i) =>
        i < winner
          ? "OTP_MISMATCH Unauthenticated"
          : i === winner
            ? "OK"
            : "OTP_ALREADY_USED FailedPrecondition",
      ),
    );
  });

  it("N simultaneous requests with one idempotency key share one code and one quota slot", async () => {
    // Guard: claimIdempotencyKey reads the key and, if free, stores a pending record in one
    // synchronous step; later claimers find it and wait on `pending` for the first response.
    const { server, gate } = await startRaceServer({ OTP_IP_REQUEST_LIMIT: "off" });
    const email = "race-idempotent@example.com";

    gate.holdUntil("claimIdempotencyKey", N);
    const outcomes = await race(N, (caller) => caller.requestOtp(email, "retry-42"));

    expect(tally(outcomes)).toEqual({ OK: N });
    const responses = outcomes.map((o) => o.response as RequestOtpResponse);
    expect(new Set(responses.map((r) => r.otpId)).size).toBe(1);
    expect(new Set(responses.map((r) => r.remainingRequests))).toEqual(new Set([2]));
    expect(server.sender.sent.filter((d) => d.email === email)).toHaveLength(1);

    const later = await callerAt(0).requestOtp(email);
    expect(later.remainingRequests).toBe(1);
  });

  it("N simultaneous requests for different emails from one client get exactly the per-IP limit", async () => {
    // Guard: takeSlots' check-and-append on the `ip:<address>` bucket, one synchronous step.
    const { server, gate } = await startRaceServer({ OTP_IP_REQUEST_LIMIT: "5/15m" });

    gate.holdUntil("takeSlots", N);
    const outcomes = await race(N, (caller, i) => caller.requestOtp(`race-ip-${i}@example.com`));

    expect(tally(outcomes)).toEqual({ OK: 5, "IP_REQUEST_LIMIT ResourceExhausted": N - 5 });
    expect(server.sender.sent).toHaveLength(5);
  });
});
