/**
 * The pads of an HMAC-SHA256 key (RFC 2104): HMAC(key, m) is SHA-256(outer || SHA-256(inner ||
 * m)), where inner and outer are the key, padded with zeros to SHA-256's 64-byte block, XORed with
 * 0x36 and 0x5c bytes. With them a SQL store, which has SHA-256 but no HMAC, makes
 * keyedCodeHash(key, otp_id) of a row's otp id (domain/otp-code.ts).
 */
export function hmacPads(key: Uint8Array): { inner: Buffer; outer: Buffer } {
  if (key.length > BLOCK) {
    // A longer key would be hashed first; a code's key is 32 bytes.
    throw new RangeError(`an HMAC key of ${key.length} bytes is longer than SHA-256's block`);
  }
  const inner = Buffer.alloc(BLOCK, 0x36);
  const outer = Buffer.alloc(BLOCK, 0x5c);
  key.forEach((byte, i) => {
    inner[i] = 0x36 ^ byte;
    outer[i] = 0x5c ^ byte;
  });
  return { inner, outer };
}

const BLOCK = 64;
