import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence, isWrapperDesc } from "@bufbuild/protobuf/wkt";

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it), as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

/**
 * Which way a message travels. Proto3 JSON has no required fields, so a request schema requires
 * nothing; the REST door writes answers with default values (`alwaysEmitImplicit`), so a
 * response schema requires every field without explicit presence, lists and maps included.
 */
export type Direction = "request" | "response";

/** One message a document reaches, and which way. */
export interface SchemaRoot {
  readonly message: DescMessage;
  readonly direction: Direction;
}

/** Schemas for proto3 JSON, with each message and enum once, as a component. */
export interface ProtoJsonSchemas {
  /** `message` as proto3 JSON: a well-known type inline, any other a `$ref` to its component. */
  message(message: DescMessage, direction: Direction): JsonSchema;
  /** `message`'s own object schema, inline (its fields' messages still by `$ref`). */
  objectOf(message: DescMessage, direction: Direction): JsonSchema;
  /** One field's value as proto3 JSON: the field's kind, repeated and maps included. */
  field(field: DescField, direction: Direction): JsonSchema;
  /** A singular field's value (a list's or map's element). */
  singular(field: DescField, direction: Direction): JsonSchema;
  /** Every component so far, by key, sorted. */
  components(): Record<string, JsonSchema>;
}

/**
 * Proto3 JSON schemas for the messages `roots` reach (and, by `$ref`, every message those reach):
 * lowerCamel names (the JSON names), 64-bit integers as decimal strings, 32-bit ones as
 * integers, enums by name, bytes as base64, and the well-known types as proto3 JSON maps them
 * (Timestamp: RFC 3339 string; Duration: `"300s"`; wrappers: their value; Struct, Value,
 * ListValue: JSON; Any: `@type` and the fields; FieldMask: a string). Components are keyed by
 * full type name; a message that travels both ways gets its request form as `<name>-input` (a
 * hyphen no proto name has), since only the response form requires fields.
 */
export function createProtoJsonSchemas(roots: readonly SchemaRoot[]): ProtoJsonSchemas {
  const bothWays = messagesTravellingBothWays(roots);
  const built = new Map<string, JsonSchema>();

  const keyOf = (message: DescMessage, direction: Direction): string =>
    direction === "request" && bothWays.has(message.typeName)
      ? `${message.typeName}-input`
      : message.typeName;

  const schemas: ProtoJsonSchemas = {
    message(message, direction) {
      const wkt = wellKnownSchema(message, schemas, direction);
      if (wkt !== undefined) {
        return wkt;
      }
      const key = keyOf(message, direction);
      if (!built.has(key)) {
        built.set(key, {}); // first, so that a recursive message refers to itself
        built.set(key, schemas.objectOf(message, direction));
      }
      return { $ref: `#/components/schemas/${key}` };
    },
    objectOf(message, direction) {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const field of message.fields) {
        const schema = schemas.field(field, direction);
        properties[field.jsonName] = field.deprecated ? { ...schema, deprecated: true } : schema;
        if (direction === "response" && alwaysWritten(field)) {
          required.push(field.jsonName);
        }
      }
      return {
        type: "object",
        title: message.name,
        properties,
        ...(required.length > 0 ? { required } : {}),
      };
    },
    field(field, direction) {
      switch (field.fieldKind) {
        case "list":
          return { type: "array", items: schemas.singular(field, direction) };
        case "map":
          return {
            type: "object",
            propertyNames: mapKeySchema(field.mapKey),
            additionalProperties: schemas.singular(field, direction),
          };
        default:
          return schemas.singular(field, direction);
      }
    },
    singular(field, direction) {
      if (field.message !== undefined) {
        return schemas.message(field.message, direction);
      }
      if (field.enum !== undefined) {
        return enumSchema(field.enum, built);
      }
      return scalarSchema(field.scalar as ScalarType);
    },
    components() {
      return Object.fromEntries([...built.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    },
  };
  return schemas;
}

/** Whether toJson with alwaysEmitImplicit always writes `field`: no explicit presence. */
function alwaysWritten(field: DescField): boolean {
  if (field.fieldKind === "list" || field.fieldKind === "map") {
    return true;
  }
  return field.oneof === undefined && field.presence !== FeatureSet_FieldPresence.EXPLICIT;
}

/** Type names of the messages reached both from a request and from a response. */
function messagesTravellingBothWays(roots: readonly SchemaRoot[]): Set<string> {
  const reached = { request: new Set<string>(), response: new Set<string>() };
  const visit = (message: DescMessage, seen: Set<string>) => {
    if (seen.has(message.typeName)) {
      return;
    }
    seen.add(message.typeName);
    for (const field of message.fields) {
      if (field.message !== undefined) {
        visit(field.message, seen);
      }
    }
  };
  for (const root of roots) {
    visit(root.message, reached[root.direction]);
  }
  return new Set([...reached.request].filter((name) => reached.response.has(name)));
}

function enumSchema(desc: DescEnum, built: Map<string, JsonSchema>): JsonSchema {
  if (desc.typeName === "google.protobuf.NullValue") {
    return { type: "null" };
  }
  if (!built.has(desc.typeName)) {
    built.set(desc.typeName, {
      type: "string",
      title: desc.name,
      enum: desc.values.map((value) => value.name),
    });
  }
  return { $ref: `#/components/schemas/${desc.typeName}` };
}

const INT64 = { type: "string", format: "int64", pattern: "^-?[0-9]+$" } as const;
const UINT64 = { type: "string", pattern: "^[0-9]+$" } as const;

/** A scalar as proto3 JSON writes it. */
export function scalarSchema(scalar: ScalarType): JsonSchema {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return {
        oneOf: [
          { type: "number", format: scalar === ScalarType.DOUBLE ? "double" : "float" },
          { type: "string", enum: ["NaN", "Infinity", "-Infinity"] },
        ],
      };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { ...INT64 };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { ...UINT64 };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}

/** Map keys are strings in JSON; other key types are their decimal or `true`/`false` spelling. */
function mapKeySchema(key: ScalarType): JsonSchema {
  switch (key) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { enum: ["true", "false"] };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { pattern: UINT64.pattern };
    default:
      return { pattern: INT64.pattern };
  }
}

/** The well-known types whose proto3 JSON is not an object of their fields, inline. */
function wellKnownSchema(
  message: DescMessage,
  schemas: ProtoJsonSchemas,
  direction: Direction,
): JsonSchema | undefined {
  if (isWrapperDesc(message)) {
    return schemas.singular(message.fields[0] as DescField, direction);
  }
  switch (message.typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return { type: "string", pattern: "^-?[0-9]+(?:\\.[0-9]{1,9})?s$", examples: ["300s"] };
    case "google.protobuf.FieldMask":
      return { type: "string", description: "Field paths in lowerCamel, comma-separated." };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    case "google.protobuf.Value":
      return {};
    case "google.protobuf.ListValue":
      return { type: "array" };
    case "google.protobuf.Any":
      return {
        type: "object",
        properties: { "@type": { type: "string" } },
        required: ["@type"],
        additionalProperties: true,
      };
    default:
      return undefined;
  }
}
