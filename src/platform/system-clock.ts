import type { Clock } from "../domain/ports.js";

/** The machine's wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
