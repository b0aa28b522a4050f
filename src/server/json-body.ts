import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { undecodableBody, unsupportedContentType } from "../rpc/framework-refusals.js";

// RFC 8259: JSON is UTF-8; invalid bytes make the body undecodable rather than U+FFFD.
const utf8 = new TextDecoder("utf-8", { fatal: true });
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * A JSON request body as the HTTP doors that read JSON themselves (REST, seed B's dialect) read
 * it, one policy for both: a content type other than JSON is unsupported_content_type; bytes that
 * are not UTF-8 or not JSON are undecodable_body.
 */
export function parseJsonBody(contentType: string | null, body: Uint8Array): JsonValue {
  if (contentType === null || !JSON_TYPE.test(contentType)) {
    throw unsupportedContentType(contentType, "the body as application/json");
  }
  try {
    return JSON.parse(utf8.decode(body)) as JsonValue;
  } catch (error) {
    throw undecodableBody(error);
  }
}

/** `value` if it is a JSON object, else undecodable_body naming what was expected. */
export function jsonObjectOf(value: JsonValue, expected: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw undecodableBody(new Error(`expected a JSON object for ${expected}`));
  }
  return value;
}
