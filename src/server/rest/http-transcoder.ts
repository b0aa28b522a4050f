import {
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";
import { invalidParameter, undecodableBody } from "../../rpc/framework-refusals.js";
import { isSecretField } from "../../rpc/secret-fields.js";
import { jsonObjectOf, parseJsonBody } from "../json-body.js";
import { decodeVariable } from "./http-route-matcher.js";
import type { HttpRulePlan } from "./http-rules.js";

/** One REST request as the transcoder needs it; nothing is decoded yet. */
export interface HttpRequestParts {
  /** Each template variable's segments as sent, in the template's order. */
  readonly rawVariables: readonly string[];
  /** The query string without `?` (empty when there is none). */
  readonly query: string;
  readonly contentType: string | null;
  readonly body: Uint8Array;
}

/**
 * The request message of one REST call, per its HttpRule plan: the body (proto3 JSON, lowerCamel
 * or proto field names, unknown fields ignored as on the Connect door), then path variables, then
 * query parameters for the fields neither binds (proto or lowerCamel names, dotted paths into
 * singular messages, repeated names for repeated fields). The query string is
 * application/x-www-form-urlencoded, as browsers and URLSearchParams write it: `+` is a space, so
 * an email with `+` is sent as `%2B`.
 *
 * Throws FrameworkRefusalError: unsupported_content_type for a body that is not JSON,
 * undecodable_body for a body that does not decode (an empty one, where the route takes a body,
 * included: json-body.ts has the policy), invalid_parameter (naming the parameter) for
 * a query parameter that names no field, names a field the path or body binds, names a secret
 * (secret-fields.ts) or holds a value its field cannot take.
 */
export function transcodeRequest<Desc extends DescMessage>(
  plan: HttpRulePlan & { readonly method: { readonly input: Desc } },
  parts: HttpRequestParts,
): MessageShape<Desc> {
  const schema = plan.method.input;
  const json = bodyJson(plan, parts);
  plan.pathFields.forEach((fields, index) => {
    const variable = plan.template.variables[index];
    const name = fields.map((field) => field.name).join(".");
    let value: string;
    try {
      value = decodeVariable(parts.rawVariables[index] ?? "", variable?.rest ?? false);
    } catch {
      throw invalidParameter(name, `${name}: malformed percent-encoding in the path`);
    }
    setField(json, fields, checkedValue(schema, fields, name, value));
  });
  for (const [name, values] of queryParameters(parts.query)) {
    const fields = queryFields(plan, name);
    const leaf = fields.at(-1) as DescField;
    if (leaf.fieldKind !== "list" && values.length > 1) {
      throw invalidParameter(name, `${name} is not repeated but was given ${values.length} times`);
    }
    const value = leaf.fieldKind === "list" ? values : (values[0] as string);
    setField(json, fields, checkedValue(schema, fields, name, value));
  }
  try {
    return fromJson(schema, json, { ignoreUnknownFields: true });
  } catch (error) {
    throw undecodableBody(error);
  }
}

function bodyJson(plan: HttpRulePlan, parts: HttpRequestParts): JsonObject {
  if (plan.body === "") {
    if (parts.body.byteLength === 0) {
      return {};
    }
    throw undecodableBody(new Error("this route takes no request body"));
  }
  // A route that takes a body refuses an empty one, as the Connect door does (docs/api.md).
  const value = parseJsonBody(parts.contentType, parts.body);
  if (plan.body !== "*") {
    return { [plan.body.jsonName]: value };
  }
  return { ...jsonObjectOf(value, plan.method.input.typeName) };
}

/** The fields query parameter `name` sets; refuses names the route does not take from a query. */
function queryFields(plan: HttpRulePlan, name: string): DescField[] {
  const names = name.split(".");
  if (isSecretField(names.at(-1) as string)) {
    throw invalidParameter(
      name,
      `${name} carries a secret and is only accepted in the request body: a URL ends up in logs`,
    );
  }
  if (plan.body === "*") {
    throw invalidParameter(name, `${name}: this route takes every field from the body`);
  }
  const fields: DescField[] = [];
  let message: DescMessage | undefined = plan.method.input;
  for (const part of names) {
    const field: DescField | undefined = message?.fields.find(
      (each) => each.name === part || each.jsonName === part,
    );
    if (field === undefined) {
      throw invalidParameter(name, `${name} names no field of ${plan.method.input.typeName}`);
    }
    fields.push(field);
    message = field.fieldKind === "message" ? field.message : undefined;
  }
  const first = fields[0] as DescField;
  const leaf = fields.at(-1) as DescField;
  if (first === plan.body || plan.pathFields.some((bound) => startsWith(fields, bound))) {
    throw invalidParameter(name, `${name} is bound by the path or body of this route`);
  }
  const settable =
    leaf.fieldKind === "scalar" ||
    leaf.fieldKind === "enum" ||
    (leaf.fieldKind === "list" && leaf.listKind !== "message");
  if (!settable) {
    throw invalidParameter(name, `${name} cannot be set from a query parameter`);
  }
  return fields;
}

function startsWith(fields: readonly DescField[], prefix: readonly DescField[]): boolean {
  return prefix.every((field, index) => fields[index] === field);
}

/**
 * `value` as proto3 JSON for the field `fields` lead to: strings as they are (proto3 JSON takes
 * numbers, enums, bytes and timestamps as strings), booleans as `true`/`false`; checked alone,
 * so that a bad value is refused naming its parameter rather than the body.
 */
function checkedValue(
  schema: DescMessage,
  fields: readonly DescField[],
  name: string,
  value: string | readonly string[],
): JsonValue {
  const leaf = fields.at(-1) as DescField;
  const isBool =
    (leaf.fieldKind === "scalar" || leaf.fieldKind === "list") && leaf.scalar === ScalarType.BOOL;
  const convert = (text: string): JsonValue =>
    isBool ? (text === "true" ? true : text === "false" ? false : text) : text;
  const json = typeof value === "string" ? convert(value) : value.map(convert);
  const probe: JsonObject = {};
  setField(probe, fields, json);
  try {
    fromJson(schema, probe);
  } catch (error) {
    throw invalidParameter(name, `${name}: ${messageOf(error)}`);
  }
  return json;
}

/** Sets `value` at `fields` in a proto3 JSON object, under JSON names, replacing proto-named keys. */
function setField(json: JsonObject, fields: readonly DescField[], value: JsonValue): void {
  let target = json;
  for (const [index, field] of fields.entries()) {
    const existing = target[field.jsonName] ?? target[field.name];
    delete target[field.name];
    if (index === fields.length - 1) {
      target[field.jsonName] = value;
      return;
    }
    const next: JsonObject =
      existing !== null && typeof existing === "object" && !Array.isArray(existing)
        ? { ...existing }
        : {};
    target[field.jsonName] = next;
    target = next;
  }
}

/**
 * `a=1&b=x+y&b=%2B` → a: ["1"], b: ["x y", "+"], in order; empty pieces are skipped. Throws
 * invalid_parameter for malformed percent-encoding.
 */
function queryParameters(query: string): Map<string, string[]> {
  const parameters = new Map<string, string[]>();
  for (const piece of query.split("&")) {
    if (piece === "") {
      continue;
    }
    const eq = piece.indexOf("=");
    const rawName = eq === -1 ? piece : piece.slice(0, eq);
    const rawValue = eq === -1 ? "" : piece.slice(eq + 1);
    const name = formDecode(rawName, rawName);
    const value = formDecode(rawValue, name);
    const values = parameters.get(name);
    if (values === undefined) {
      parameters.set(name, [value]);
    } else {
      values.push(value);
    }
  }
  return parameters;
}

function formDecode(text: string, parameter: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw invalidParameter(parameter, `${parameter}: malformed percent-encoding in the query`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
