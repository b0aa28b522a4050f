import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { isSecretField } from "../../../rpc/secret-fields.js";
import type { PathTemplate } from "../http-path-template.js";
import type { HttpRulePlan } from "../http-rules.js";
import type { JsonSchema, ProtoJsonSchemas } from "./proto-json-schema.js";

// How a route's request reads in OpenAPI: its path, its path and query parameters, its body, as
// http-transcoder.ts reads them.

const JSON_TYPE = "application/json";

/** A template as an OpenAPI path: each variable (or unnamed wildcard) one `{parameter}`. */
export interface RenderedPath {
  readonly path: string;
  /** The path with its parameters unnamed: templates of one shape share one OpenAPI path. */
  readonly shape: string;
  /** The parameters in path order: a variable's index, or -1 for an unnamed wildcard. */
  readonly parameters: readonly { readonly name: string; readonly variable: number }[];
}

/** The OpenAPI path of `template`, and its parameters in path order. */
export function renderPath(template: PathTemplate): RenderedPath {
  const parts: string[] = [];
  const parameters: { name: string; variable: number }[] = [];
  let at = 0;
  while (at < template.segments.length) {
    const variable = template.variables.findIndex((each) => each.start === at);
    const segment = template.segments[at];
    if (variable !== -1) {
      const bound = template.variables[variable] as PathTemplate["variables"][number];
      parameters.push({ name: bound.fieldPath.join("."), variable });
      parts.push(`{${bound.fieldPath.join(".")}}`);
      at = Math.max(bound.end, at + 1);
    } else if (segment?.kind === "literal") {
      parts.push(encodeLiteral(segment.value));
      at++;
    } else {
      const name = `_segment${at + 1}`;
      parameters.push({ name, variable: -1 });
      parts.push(`{${name}}`);
      at++;
    }
  }
  const verb = template.verb === undefined ? "" : `:${template.verb}`;
  const path = `/${parts.join("/")}${verb}`;
  return { path, shape: path.replace(/\{[^}]*\}/g, "{}"), parameters };
}

/** A literal segment as a URL writes it: RFC 3986 path characters as they are, the rest escaped. */
function encodeLiteral(value: string): string {
  return encodeURIComponent(value).replace(
    /%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/g,
    (escaped) => decodeURIComponent(escaped),
  );
}

/**
 * The path parameters of a route rendered as `rendered`, named as `shared` (the first route of
 * the same shape) names them: a variable's field schema, with a `pattern` when it spans more
 * than one `*`; an unnamed wildcard as any segment.
 */
export function pathParameters(
  plan: HttpRulePlan,
  rendered: RenderedPath,
  shared: RenderedPath,
  schemas: ProtoJsonSchemas,
): JsonSchema[] {
  return rendered.parameters.map((parameter, position) => {
    // A route that shares its path with an earlier one takes the earlier one's parameter names.
    const name = shared.parameters[position]?.name ?? parameter.name;
    const variable = plan.template.variables[parameter.variable];
    const fields = plan.pathFields[parameter.variable];
    if (variable === undefined || fields === undefined) {
      return {
        name,
        in: "path",
        required: true,
        description: "Any one segment; not read.",
        schema: { type: "string" },
      };
    }
    const leaf = fields.at(-1) as DescField;
    const segments = plan.template.segments.slice(
      variable.start,
      variable.rest ? undefined : variable.end,
    );
    const simple = segments.length === 1 && segments[0]?.kind === "single";
    const notes: string[] = [];
    if (name !== parameter.name) {
      notes.push(`The field \`${parameter.name}\`.`);
    }
    if (!simple) {
      const written = segments
        .map((each) => (each.kind === "literal" ? each.value : each.kind === "single" ? "*" : "**"))
        .join("/");
      notes.push(
        `Matches \`${written}\`: its \`/\` are sent as they are, not percent-encoded, which generated clients may not do.`,
      );
    }
    const schema = schemas.singular(leaf, "request");
    return {
      name,
      in: "path",
      required: true,
      ...(notes.length > 0 ? { description: notes.join(" ") } : {}),
      schema:
        simple || schema.type !== "string" ? schema : { ...schema, pattern: patternOf(segments) },
    };
  });
}

function patternOf(segments: PathTemplate["segments"]): string {
  const parts = segments.map((each) =>
    each.kind === "literal"
      ? each.value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      : each.kind === "single"
        ? "[^/]+"
        : ".*",
  );
  return `^${parts.join("/")}$`;
}

/**
 * The query parameters a route takes (http-transcoder.ts): unless the body is the whole message,
 * every scalar, enum or repeated scalar field that neither the path nor the body binds, through
 * singular message fields by dotted lowerCamel names; never a secret field.
 */
export function queryParameters(plan: HttpRulePlan, schemas: ProtoJsonSchemas): JsonSchema[] {
  if (plan.body === "*") {
    return [];
  }
  const parameters: JsonSchema[] = [];
  const nameOf = (fields: readonly DescField[]) => fields.map((each) => each.name).join(".");
  const bound = plan.pathFields.map(nameOf);
  const visit = (message: DescMessage, prefix: readonly DescField[], seen: Set<string>) => {
    for (const field of message.fields) {
      const fields = [...prefix, field];
      if (isSecretField(field.name) || field === plan.body || bound.includes(nameOf(fields))) {
        continue;
      }
      if (field.fieldKind === "message") {
        if (!seen.has(field.message.typeName) && !isWellKnown(field.message)) {
          visit(field.message, fields, new Set([...seen, field.message.typeName]));
        }
        continue;
      }
      if (
        field.fieldKind === "map" ||
        (field.fieldKind === "list" && field.listKind === "message")
      ) {
        continue;
      }
      parameters.push({
        name: fields.map((each) => each.jsonName).join("."),
        in: "query",
        required: false,
        ...(field.fieldKind === "list" ? { style: "form", explode: true } : {}),
        ...(field.deprecated ? { deprecated: true } : {}),
        schema: schemas.field(field, "request"),
      });
    }
  };
  visit(plan.method.input, [], new Set([plan.method.input.typeName]));
  return parameters;
}

/** Well-known types have a JSON form of their own, so their fields are not query parameters. */
function isWellKnown(message: DescMessage): boolean {
  return message.typeName.startsWith("google.protobuf.") || isWrapperDesc(message);
}

/** `{parameters}` when there are any, else nothing. */
export function parametersOf(parameters: JsonSchema[]): JsonSchema {
  return parameters.length > 0 ? { parameters } : {};
}

/** `{requestBody}` for a route with a body, else nothing. */
export function requestBodyOf(plan: HttpRulePlan, schemas: ProtoJsonSchemas): JsonSchema {
  if (plan.body === "") {
    return {};
  }
  const input = plan.method.input.typeName;
  const [what, schema] =
    plan.body === "*"
      ? [`The request message \`${input}\``, schemas.message(plan.method.input, "request")]
      : [`The field \`${plan.body.name}\` of \`${input}\``, schemas.field(plan.body, "request")];
  return {
    requestBody: {
      description: `${what} as proto3 JSON (\`application/json\`; no body reads as \`{}\`).`,
      required: false,
      content: { [JSON_TYPE]: { schema } },
    },
  };
}
