import { randomBytes, randomInt } from "node:crypto";
import type { RandomSource } from "../domain/ports.js";

/** Codes and ids from Node's CSPRNG. */
export const cryptoRandom: RandomSource = {
  digits(length) {
    // randomInt is uniform and CSPRNG-backed, but limited to ranges below 2^48: draw in chunks.
    let out = "";
    while (out.length < length) {
      const chunk = Math.min(length - out.length, 9);
      out += randomInt(0, 10 ** chunk)
        .toString()
        .padStart(chunk, "0");
    }
    return out;
  },
  id() {
    return randomBytes(16).toString("base64url");
  },
};
