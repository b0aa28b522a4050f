import { isDeepStrictEqual } from "node:util";
import * as fc from "fast-check";
import { expect } from "vitest";
import type { OtpStore } from "../../src/domain/otp-store.js";
import {
  commands,
  createModel,
  createSystem,
  outcomeOf,
  RequestOtp,
  type System,
} from "./model-commands.js";
import {
  MODEL_SERVICE_TOKEN,
  type Outcome,
  ReferenceModel,
  type RequestInput,
} from "./reference-model.js";

// The concurrent mode of the model tests: after a random sequential prefix, two calls run at
// once (verify/verify, verify/request, request/request) while fast-check's scheduler decides
// when each store step's answer reaches its caller, so the two calls interleave step by step in
// every order it cares to try. The pair's answers must be those of the reference model run in
// one order or the other (each call atomic), and what is left behind (the active code, whether
// the email is authenticated) what one of those orders leaves.

const EMAIL = "ann@example.com";
const PURPOSE = "login";

type CodeChoice = "right" | "wrong" | "stale";

/** One of the two racing calls; the code a verification sends is fixed before the race. */
type Op =
  | { readonly kind: "request"; readonly input: RequestInput }
  | {
      readonly kind: "verify";
      readonly choice: CodeChoice;
      readonly purpose: string;
      /** Names the otp_id of the code it sends (its request's), rather than the latest code. */
      readonly bound: boolean;
    };

const requestOp = fc
  .record({
    purpose: fc.constantFrom(PURPOSE, PURPOSE, "reset"),
    key: fc.constantFrom(undefined, undefined, "k-1"),
  })
  .map(
    ({ purpose, key }): Op => ({
      kind: "request",
      input: { email: EMAIL, purpose, ...(key === undefined ? {} : { idempotencyKey: key }) },
    }),
  );
const verifyOp = fc
  .record({
    choice: fc.constantFrom<CodeChoice>("right", "right", "wrong", "stale"),
    purpose: fc.constantFrom(PURPOSE, PURPOSE, "reset"),
    bound: fc.boolean(),
  })
  .map(({ choice, purpose, bound }): Op => ({ kind: "verify", choice, purpose, bound }));

/** verify/verify, verify/request and request/request, in either position. */
export const racingPairs = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(verifyOp, verifyOp) },
  // The interleaving where a request replaces the code a verification has read is the rarest.
  { weight: 3, arbitrary: fc.tuple(verifyOp, requestOp) },
  { weight: 3, arbitrary: fc.tuple(requestOp, verifyOp) },
  { weight: 2, arbitrary: fc.tuple(requestOp, requestOp) },
);

/**
 * The prefix: a short random sequential session on the same mailbox pool as the model tests,
 * mostly ending with a fresh code for the mailbox the race is about, so that races find a code
 * to verify more often than not.
 */
export const prefixes = fc
  .tuple(commands(10), fc.constantFrom(PURPOSE, PURPOSE, "reset", null))
  .map(([sequential, fresh]) =>
    fresh === null
      ? [...sequential]
      : [...sequential, new RequestOtp({ email: EMAIL, purpose: fresh }, false)],
  );

/**
 * Wraps `inner` so that, while `scheduling.on`, each store step's answer reaches its caller when
 * `scheduler` decides: the two racing calls issue their steps in the orders it chooses.
 */
export function createScheduledStore(inner: OtpStore) {
  const scheduling: { on: boolean; scheduler: fc.Scheduler | null } = {
    on: false,
    scheduler: null,
  };
  const store = { ...inner };
  for (const method of Object.keys(inner) as (keyof OtpStore)[]) {
    const step = inner[method] as (...args: unknown[]) => Promise<unknown>;
    (store as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      const scheduler = scheduling.on ? scheduling.scheduler : null;
      if (scheduler === null) {
        return step(...args);
      }
      if (method === "claimIdempotencyKey") {
        // A claim may wait for the other call to finish with the key: only its start is
        // scheduled, or the scheduler would wait on it while holding back the other call.
        await scheduler.schedule(Promise.resolve(), method);
        return step(...args);
      }
      // The step runs now; its caller goes on when the scheduler says, so the next step of
      // each call is issued in the order the scheduler picks.
      return scheduler.schedule(step(...args), method);
    };
  }
  return { store: store as OtpStore, scheduling };
}

/** A deep copy of the model, to play one order of the race on. */
function cloneModel(model: ReferenceModel): ReferenceModel {
  return Object.setPrototypeOf(structuredClone({ ...model }), ReferenceModel.prototype);
}

interface Actual {
  readonly outcome: Outcome;
  readonly otpId?: string | undefined;
  readonly session?: { token: string; sessionId: string; userId: string } | undefined;
}

/** What the model answers to `ops` in this order, told the real otp ids and codes issued. */
function playInOrder(
  model: ReferenceModel,
  ops: readonly { op: Op; otp?: string; otpId?: string; actual: Actual }[],
  codeOf: (otpId: string) => string,
): { outcomes: Outcome[]; model: ReferenceModel } {
  const played = cloneModel(model);
  const outcomes = ops.map(({ op, otp, otpId, actual }) => {
    if (op.kind === "verify") {
      const input = { email: EMAIL, purpose: op.purpose, otp: otp as string, otpId };
      const expected = played.verifyOtp(input);
      // The session a verification started, so that later status answers know of it.
      if ("ok" in expected && actual.session !== undefined) {
        played.sessionStarted(input, actual.session);
      }
      return expected;
    }
    const expected = played.requestOtp(op.input, false);
    if (expected.replayOf !== undefined && expected.replayOf !== actual.otpId) {
      return { refused: "not_found" } as Outcome; // a replay of another code: cannot match
    }
    if (expected.issues && actual.otpId !== undefined) {
      played.issued(op.input, actual.otpId, codeOf(actual.otpId), expected.outcome);
    }
    return expected.outcome;
  });
  return { outcomes, model: played };
}

/** Runs `prefix` sequentially, then the racing pair under `scheduler`, and checks the result. */
export async function checkRace(
  inner: OtpStore,
  prefix: Iterable<fc.AsyncCommand<ReferenceModel, System>>,
  pair: readonly [Op, Op],
  scheduler: fc.Scheduler,
): Promise<void> {
  const { store, scheduling } = createScheduledStore(inner);
  let setup: { model: ReferenceModel; real: System } | undefined;
  await fc.asyncModelRun(() => {
    setup = { model: createModel(), real: createSystem(store) };
    return setup;
  }, prefix);
  const { model, real } = setup as { model: ReferenceModel; real: System };

  // The codes are picked from what the mailbox holds before the race.
  const racers = pair.map((op) => {
    if (op.kind === "request") return { op };
    const { delivered, issuedOtpIds } = model.pair(EMAIL, op.purpose);
    const current = delivered.at(-1) ?? "000000";
    const otp =
      op.choice === "right"
        ? current
        : op.choice === "stale"
          ? (delivered.at(-2) ?? "999999")
          : current.slice(0, -1) + String((Number(current.at(-1)) + 1) % 10);
    // Bound, to the request the code came from (a stale code's own, older request).
    const otpId = op.bound
      ? ((op.choice === "stale" ? issuedOtpIds.at(-2) : issuedOtpIds.at(-1)) ?? "otp-0")
      : "";
    return { op, otp, otpId };
  });

  scheduling.scheduler = scheduler;
  scheduling.on = true;
  const actuals = await scheduler.waitFor(
    Promise.all(
      racers.map(({ op, otp, otpId }) =>
        op.kind === "request"
          ? outcomeOf(real.service.requestOtp(op.input))
          : outcomeOf(
              real.service.verifyOtp({
                email: EMAIL,
                purpose: op.purpose,
                otp: otp as string,
                otpId,
              }),
            ),
      ),
    ),
  );
  scheduling.on = false;

  const codeOf = (otpId: string) =>
    real.sender.sent.find((delivery) => delivery.otpId === otpId)?.code ?? "";
  const withActual = racers.map((racer, i) => ({ ...racer, actual: actuals[i] as Actual }));
  const orders = [withActual, [...withActual].reverse()].map((order) => {
    const played = playInOrder(model, order, codeOf);
    return { ...played, order };
  });
  const [first, second] = withActual;
  // Two deviations from "one order or the other", known and left as is (see docs/development.md "Model
  // tests"). A key held by a request for another purpose is a mismatch at once, even if that
  // request then fails and frees the key:
  for (const [holder, other] of [
    [first, second],
    [second, first],
  ]) {
    if (
      holder?.op.kind === "request" &&
      other?.op.kind === "request" &&
      holder.op.input.idempotencyKey !== undefined &&
      holder.op.input.idempotencyKey === other.op.input.idempotencyKey &&
      ReferenceModel.purpose(holder.op.input.purpose) !==
        ReferenceModel.purpose(other.op.input.purpose)
    ) {
      const alone = playInOrder(model, [holder], codeOf);
      orders.push({
        outcomes: [...alone.outcomes, { refused: "idempotency_mismatch" }],
        model: alone.model,
        order: [holder, other],
      });
    }
  }
  const matching = orders.filter(({ outcomes, order }) =>
    outcomes.every((outcome, i) => isDeepStrictEqual(outcome, order[i]?.actual.outcome)),
  );
  const race = `race ${JSON.stringify(racers)} answered ${JSON.stringify(actuals.map((a) => a.outcome))}`;
  expect(
    matching.length,
    `${race}; no order of the two matches it: ${JSON.stringify(orders.map((o) => o.outcomes))}`,
  ).toBeGreaterThan(0);

  // What is left: the active code of each pair touched and the email's authentication are those
  // of an order the answers allow (two codes issued at once may activate in either order).
  for (const purpose of new Set(
    pair.map((op) => (op.kind === "request" ? op.input.purpose : op.purpose)),
  )) {
    const state = await inner.readOtpState({
      email: EMAIL,
      purpose: ReferenceModel.purpose(purpose) as string,
      otpId: null,
      now: 0,
      failureWindowMs: 1,
    });
    const left = { otpId: state.code?.otpId ?? null, used: (state.code?.usedAt ?? null) !== null };
    const allowed = orders.map(({ model: m }) => {
      const code = m.pair(EMAIL, ReferenceModel.purpose(purpose) as string).code;
      return { otpId: code?.otpId ?? null, used: (code?.usedAt ?? null) !== null };
    });
    // A burned code (locked) is gone from the model; the store may keep it, unusable.
    const locked = matching.some(
      ({ model: m }) => m.pair(EMAIL, ReferenceModel.purpose(purpose) as string).code === null,
    );
    if (!locked) {
      expect(
        allowed,
        `${race}; ${purpose} left ${JSON.stringify(left)}, allowed ${JSON.stringify(allowed)}`,
      ).toContainEqual(left);
    }
  }
  const status = await outcomeOf(
    real.service.getStatus({ email: EMAIL, serviceToken: MODEL_SERVICE_TOKEN }),
  );
  expect(
    matching.map(({ model: m }) => m.getStatus({ email: EMAIL })),
    `${race}; status afterwards`,
  ).toContainEqual(status.outcome);
}
