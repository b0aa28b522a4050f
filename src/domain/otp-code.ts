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
  let keyObject = imported.get(key);
  if (keyObject === undefined) {
    keyObject = createSecretKey(key);
    imported.set(key, keyObject);
  }
  // JSON keeps the parts unambiguous without a separator they could contain.
  const input = JSON.stringify([binding.otpId, binding.email, binding.purpose, binding.code]);
  return createHmac("sha256", keyObject).update(input).digest();
}

/** Compares two hashes in time that does not depend on where they differ. */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
