import * as fc from "fast-check";
import { describe, it } from "vitest";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { checkRace, prefixes, racingPairs } from "./concurrent-pairs.js";
import { commands, createModel, createSystem } from "./model-commands.js";

// The model-based tests on a store over a database (one store for the file, emptied by `empty`
// before each run): fewer runs than on memory, since each step is a round trip and CI time is
// bounded. postgres-model.test.ts and concurrent-postgres-model.test.ts run them on PostgreSQL,
// mariadb-model.system.test.ts on MariaDB.

/** Random sequences of requests, verifications, status checks and clock moves. */
export function describeSequencesOn(
  engine: string,
  store: OtpStore,
  empty: () => Promise<void>,
  numRuns: number,
): void {
  describe(`the service over ${engine}, against the reference model`, () => {
    it("answers every random sequence of requests, verifications, status checks and clock moves as SPEC.md says", async () => {
      await fc.assert(
        fc.asyncProperty(commands(60), async (sequence) => {
          await empty();
          await fc.asyncModelRun(
            () => ({ model: createModel(), real: createSystem(store) }),
            sequence,
          );
        }),
        { numRuns },
      );
    });
  });
}

/** Two racing calls after a random prefix, interleaved step by step by fast-check's scheduler. */
export function describeRacesOn(
  engine: string,
  store: OtpStore,
  empty: () => Promise<void>,
  numRuns: number,
): void {
  describe(`two racing calls over ${engine}, against the reference model`, () => {
    it("answer verify/verify, verify/request and request/request races as one order or the other", async () => {
      await fc.assert(
        fc.asyncProperty(prefixes, racingPairs, fc.scheduler(), async (prefix, pair, s) => {
          await empty();
          await checkRace(store, prefix, pair, s);
        }),
        { numRuns },
      );
    }, 60_000);
  });
}
