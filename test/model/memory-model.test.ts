import * as fc from "fast-check";
import { describe, it } from "vitest";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { commands, createModel, createSystem } from "./model-commands.js";

describe("the service over the memory store, against the reference model", () => {
  it("answers every random sequence of requests, verifications, status checks and clock moves as SPEC.md says", async () => {
    await fc.assert(
      fc.asyncProperty(commands(60), async (sequence) => {
        const store = createMemoryStore();
        await fc.asyncModelRun(
          () => ({ model: createModel(), real: createSystem(store) }),
          sequence,
        );
        await store.close();
      }),
      { numRuns: 200 },
    );
  });
});
