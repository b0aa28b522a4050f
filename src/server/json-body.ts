import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { undecodableBody, unsupportedContentType } from "../rpc/framework-refusals.js";
import { duplicateKeyIn } from "./json-duplicate-keys.js";

// RFC 8259: JSON is UTF-8; invalid bytes make the body undecodable rather than U+FFFD.
const utf8 = new TextDecoder("utf-8", { fatal: true });
const JSON_MEDIA_TYPE = /^\s*(application\/(?:[\w.+-]+\+)?json)\s*(?=;|$)/iy;
// RFC 9110, 5.6.6: `; name=value` or `; name="quoted"`, each optional; spaces tolerated around `=`.
const PARAMETER = /\s*;\s*(?:([^\s;="]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*)))?\s*/y;
// The spellings connect's own content-type check takes (`charset=utf-?8`), case-insensitive.
const UTF8_NAMES = new Set(["utf-8", "utf8"]);

/**
 * The media type of `contentType`, lower-cased and without parameters (`application/json`), when
 * it is JSON in UTF-8: a JSON media type (`application/json`, `application/…+json`) whose charset
 * parameter, if it has one, names UTF-8, in any case, quoted or not. Undefined for anything else:
 * another type, another charset, or parameters that do not parse. The one charset rule of every
 * door that reads JSON; the connect door hands connect the bare type it returns.
 */
export function utf8JsonTypeOf(contentType: string | null): string | undefined {
  if (contentType === null) {
    return undefined;
  }
  JSON_MEDIA_TYPE.lastIndex = 0;
  const type = JSON_MEDIA_TYPE.exec(contentType)?.[1];
  if (type === undefined) {
    return undefined;
  }
  PARAMETER.lastIndex = JSON_MEDIA_TYPE.lastIndex;
  while (PARAMETER.lastIndex < contentType.length) {
    const parameter = PARAMETER.exec(contentType);
    if (parameter === null) {
      return undefined;
    }
    const [, name, quoted, token] = parameter;
    const value = quoted === undefined ? token : quoted.replace(/\\(.)/g, "$1");
    if (name?.toLowerCase() === "charset" && !UTF8_NAMES.has((value ?? "").toLowerCase())) {
      return undefined;
    }
  }
  return type.toLowerCase();
}

/**
 * A JSON request body as the HTTP doors that read JSON themselves (REST, seed B's dialect) read
 * it, by the policy the connect door's JSON follows too (docs/api.md, "One JSON policy"): a
 * content type that is not JSON in UTF-8 (utf8JsonTypeOf) is unsupported_content_type; an empty
 * body, bytes that are not UTF-8 or not JSON, and an object that names a member twice are
 * undecodable_body.
 */
export function parseJsonBody(contentType: string | null, body: Uint8Array): JsonValue {
  if (utf8JsonTypeOf(contentType) === undefined) {
    throw unsupportedContentType(contentType, "the body as application/json (UTF-8)");
  }
  if (body.byteLength === 0) {
    throw undecodableBody(new Error("it is empty; send a JSON object ({} at least)"));
  }
  let text: string;
  let value: JsonValue;
  try {
    text = utf8.decode(body);
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw undecodableBody(error);
  }
  const duplicate = duplicateKeyIn(text);
  if (duplicate !== undefined) {
    throw undecodableBody(new Error(`duplicate object key ${JSON.stringify(duplicate)}`));
  }
  return value;
}

/** `value` if it is a JSON object, else undecodable_body naming what was expected. */
export function jsonObjectOf(value: JsonValue, expected: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw undecodableBody(new Error(`expected a JSON object for ${expected}`));
  }
  return value;
}
