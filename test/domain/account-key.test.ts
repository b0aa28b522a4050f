import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { accountKey, accountOfKey } from "../../src/domain/account.js";
import { normalizeEmail } from "../../src/domain/validate.js";

// The store keys an account by one string (src/domain/account.ts): the normalised email, or a
// prefixed key for an external id. Two accounts must never share a key.

describe("account keys", () => {
  it("map every account back to itself, and an external id's key is never an email's", () => {
    const emailish = fc.oneof(
      fc.emailAddress(),
      fc.string({ unit: "binary", maxLength: 40 }),
      // The prefixes an external id's key could be mistaken for, in front of real addresses.
      fc
        .tuple(
          fc.constantFrom("@ext:", " @ext:", "\u200b@ext:", "@EXT:", "\uff20ext:", "ext:", "@"),
          fc.emailAddress(),
        )
        .map(([prefix, address]) => `${prefix}${address}`),
    );
    fc.assert(
      fc.property(emailish, fc.stringMatching(/^[\x21-\x7e]{1,128}$/), (raw, externalId) => {
        let email: string | null = null;
        try {
          email = normalizeEmail(raw);
        } catch {
          // not an address: nothing to check
        }
        if (email !== null) {
          expect(accountOfKey(accountKey({ email }))).toEqual({ email });
          expect(accountKey({ email })).not.toBe(accountKey({ externalId }));
        }
        expect(accountOfKey(accountKey({ externalId }))).toEqual({ externalId });
      }),
      { numRuns: 500 },
    );
  });
});
