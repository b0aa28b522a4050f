import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashCode, hashesEqual } from "../../src/domain/otp-code.js";
import { cryptoRandom } from "../../src/platform/crypto-random.js";

const key = randomBytes(32);
const binding = { otpId: "id-1", email: "ann@example.com", purpose: "login", code: "123456" };

describe("stored codes", () => {
  it("are an HMAC that never contains the digits", () => {
    const hash = hashCode(key, binding);
    expect(hash).toHaveLength(32);
    expect(Buffer.from(hash).toString("latin1")).not.toContain("123456");
    expect(Buffer.from(hash).toString("hex")).not.toContain("123456");
  });

  it("are bound to the otp id, email and purpose", () => {
    const hash = hashCode(key, binding);
    expect(hashesEqual(hash, hashCode(key, { ...binding }))).toBe(true);
    for (const change of [
      { otpId: "id-2" },
      { email: "bob@example.com" },
      { purpose: "reset" },
      { code: "123457" },
    ]) {
      expect(hashesEqual(hash, hashCode(key, { ...binding, ...change }))).toBe(false);
    }
    expect(hashesEqual(hash, hashCode(randomBytes(32), binding))).toBe(false);
  });

  it("compare unequal lengths as different instead of throwing", () => {
    expect(hashesEqual(new Uint8Array(32), new Uint8Array(31))).toBe(false);
  });
});

describe("the production random source", () => {
  it.each([4, 6, 9, 10])("draws %i decimal digits, leading zeros kept", (length) => {
    for (let i = 0; i < 200; i++) {
      expect(cryptoRandom.digits(length)).toMatch(new RegExp(`^[0-9]{${length}}$`));
    }
  });

  it("spreads codes over the whole range", () => {
    const firstDigits = new Set(Array.from({ length: 500 }, () => cryptoRandom.digits(6)[0]));
    expect(firstDigits.size).toBe(10);
  });

  it("makes distinct 128-bit ids, across refills of its block of random bytes", () => {
    const ids = Array.from({ length: 1000 }, () => cryptoRandom.id());
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    }
  });
});
