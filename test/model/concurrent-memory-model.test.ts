import * as fc from "fast-check";
import { describe, it } from "vitest";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { checkRace, prefixes, racingPairs } from "./concurrent-pairs.js";

describe("two racing calls over the memory store, against the reference model", () => {
  it("answer verify/verify, verify/request and request/request races as one order or the other", async () => {
    await fc.assert(
      fc.asyncProperty(prefixes, racingPairs, fc.scheduler(), async (prefix, pair, s) => {
        const store = createMemoryStore();
        await checkRace(store, prefix, pair, s);
        await store.close();
      }),
      { numRuns: 1000 },
    );
  });
});
