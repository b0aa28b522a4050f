import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";

/** What a code's HMAC is bound to: the same digits for another id, email or purpose never match. */
export interface CodeBinding {
  readonly otpId: string;
  readonly email: string;
  readonly purpose: string;
  readonly code: string;
}

// The key imported once per key rather than on every hash (a third of createHmac's cost).
const imported = new WeakMap<Uint8Array, KeyObject>();

/** HMAC-SHA256 of the code and what it is bound to. Only this is ever stored. */
export function hashCode(key: Uint8Array, binding: CodeBinding): Uint8Array {
  // JSON keeps the parts unambiguous without a separator they could contain.
  const input = JSON.stringify([binding.otpId, binding.email, binding.purpose, binding.code]);
  return createHmac("sha256", importedKey(key)).update(input).digest();
}

function importedKey(key: Uint8Array): KeyObject {
  let keyObject = imported.get(key);
  if (keyObject === undefined) {
    keyObject = createSecretKey(key);
    imported.set(key, keyObject);
  }
  return keyObject;
}

/** Compares two hashes in time that does not depend on where they differ. */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What a code's key is bound to: the code of one account and purpose, whichever request it was. */
export type CodeKeyBinding = Omit<CodeBinding, "otpId">;

/**
 * The code's key: HMAC-SHA256 of the code, its email and purpose (not its otp id). Never stored;
 * a verification that does not know which request its code came from hands it to the store, which
 * finds the code whose keyed hash it makes (keyedCodeHash).
 */
export function codeKeyOf(key: Uint8Array, binding: CodeKeyBinding): Uint8Array {
  // Three parts where hashCode's input has four: the two never hash the same text.
  const input = JSON.stringify([binding.email, binding.purpose, binding.code]);
  return createHmac("sha256", importedKey(key)).update(input).digest();
}

/**
 * The code's second stored HMAC: of its otp id, keyed by the code's key. Like the first, bound to
 * the otp id, email and purpose, and made only with OTP_HMAC_KEY; unlike it, a store can make it
 * from the code's key and the otp id it holds (as SQL, from hmacPads).
 */
export function keyedCodeHash(codeKey: Uint8Array, otpId: string): Uint8Array {
  return createHmac("sha256", codeKey).update(otpId).digest();
}
