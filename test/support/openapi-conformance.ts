import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

// Checks REST answers against the OpenAPI document, as a contract tester would: the operation
// for the method and path (405 for a method the path does not list, 404 for a path it does not
// list), a status the operation documents, its required headers and their schemas, and the body
// against the response schema (ajv, JSON Schema 2020-12, formats checked). Stricter than the
// document: an object may carry no property the document does not name, so that a field the
// service writes but the document misses fails here.

/** The committed document; the service serves the same bytes (test/rest/openapi-document.test.ts). */
export const OPENAPI_FILE = fileURLToPath(
  new URL("../../gen/openapi/openapi.json", import.meta.url),
);

type Json = { [key: string]: unknown };

/** One REST answer as a client saw it. */
export interface RestAnswer {
  readonly method: string;
  /** The request's path; a query is ignored. */
  readonly path: string;
  readonly status: number;
  readonly headers: Headers;
  /** The body as text ("" for none). */
  readonly body: string;
}

/** Where an answer's response object is found in the document, and what it must be. */
interface Expected {
  readonly pointer: string;
  readonly what: string;
}

/** Checks answers against one document. */
export interface OpenApiChecker {
  readonly document: Json;
  /** What is wrong with `answer` by the document; empty when it conforms. */
  problems(answer: RestAnswer): string[];
}

/** A checker for `document` (the committed one by default). */
export function createOpenApiChecker(
  document: Json = JSON.parse(readFileSync(OPENAPI_FILE, "utf8")) as Json,
): OpenApiChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormatsModule.default(ajv);
  ajv.addSchema(closed(structuredClone(document)) as Json, "openapi.json");
  const validators = new Map<string, ValidateFunction>();
  const validatorAt = (pointer: string) => {
    let validate = validators.get(pointer);
    if (validate === undefined) {
      validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
      validators.set(pointer, validate);
    }
    return validate;
  };
  const paths = Object.keys(document.paths as Json).map((template) => ({
    template,
    pattern: new RegExp(
      `^${template
        .split(/\{[^}]*\}/)
        .map((literal) => literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^/]+")}$`,
    ),
  }));

  const expectedOf = (answer: RestAnswer): Expected | string => {
    const path = answer.path.split("?", 1)[0] as string;
    const found = paths.find((each) => each.pattern.test(path));
    if (found === undefined) {
      return answer.status === 404
        ? { pointer: "/components/responses/NotFound", what: `404 at ${path}` }
        : `${answer.status} at ${path}, a path the document does not list (only 404 is)`;
    }
    const item = (document.paths as Record<string, Json>)[found.template] as Json;
    const verb = (answer.method === "HEAD" ? "GET" : answer.method).toLowerCase();
    const at = `/paths/${pointerEscape(found.template)}`;
    if (item[verb] === undefined) {
      const any = Object.keys(item)[0] as string;
      return answer.status === 405
        ? { pointer: `${at}/${any}/responses/405`, what: `405 for ${answer.method} ${path}` }
        : `${answer.status} for ${answer.method} ${found.template}, which the document does not list (only 405 is)`;
    }
    const responses = (item[verb] as Json).responses as Json;
    if (responses[String(answer.status)] === undefined) {
      return `${answer.status} is not a documented answer of ${verb.toUpperCase()} ${found.template}`;
    }
    return {
      pointer: `${at}/${verb}/responses/${answer.status}`,
      what: `${answer.status} of ${verb.toUpperCase()} ${found.template}`,
    };
  };

  return {
    document,
    problems(answer) {
      if (answer.method === "OPTIONS" && answer.status === 204) {
        return []; // preflights and Allow listings: not operations
      }
      const expected = expectedOf(answer);
      if (typeof expected === "string") {
        return [expected];
      }
      const { pointer, response } = resolve(document, expected.pointer);
      const problems: string[] = [];
      for (const [name, raw] of Object.entries((response.headers as Json | undefined) ?? {})) {
        const { pointer: headerAt, response: header } = resolve(
          document,
          `${pointer}/headers/${pointerEscape(name)}`,
          raw as Json,
        );
        const value = answer.headers.get(name);
        if (value === null) {
          if (header.required === true) {
            problems.push(`${expected.what}: header ${name} is missing`);
          }
          continue;
        }
        const schema = header.schema as Json;
        const typed = schema.type === "integer" && /^-?[0-9]+$/.test(value) ? Number(value) : value;
        const validate = validatorAt(`${headerAt}/schema`);
        if (!validate(typed)) {
          problems.push(`${expected.what}: header ${name}: ${ajv.errorsText(validate.errors)}`);
        }
      }
      const content = response.content as Json | undefined;
      if (content === undefined || answer.method === "HEAD") {
        return problems;
      }
      const type = answer.headers.get("content-type") ?? "";
      const media = Object.keys(content).find((each) => type.split(";", 1)[0]?.trim() === each);
      if (media === undefined) {
        return [
          ...problems,
          `${expected.what}: content-type ${type}, not one of ${Object.keys(content)}`,
        ];
      }
      let body: unknown;
      try {
        body = JSON.parse(answer.body);
      } catch {
        return [
          ...problems,
          `${expected.what}: the body is not JSON: ${answer.body.slice(0, 200)}`,
        ];
      }
      const validate = validatorAt(`${pointer}/content/${pointerEscape(media)}/schema`);
      if (!validate(body)) {
        problems.push(
          `${expected.what}: ${ajv.errorsText(validate.errors)} in ${answer.body.slice(0, 500)}`,
        );
      }
      return problems;
    },
  };
}

/** The object at `pointer`, following a `$ref` (into the same document) if it is one. */
function resolve(
  document: Json,
  pointer: string,
  value?: Json,
): { pointer: string; response: Json } {
  const at = value ?? (valueAt(document, pointer) as Json);
  const ref = at.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    return resolve(document, ref.slice(1));
  }
  return { pointer, response: at };
}

function valueAt(document: Json, pointer: string): unknown {
  return pointer
    .split("/")
    .slice(1)
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce<unknown>((node, part) => (node as Json | undefined)?.[part], document);
}

function pointerEscape(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** Every object schema with named properties and no word on others, closed to others. */
export function closed(node: unknown): unknown {
  if (Array.isArray(node)) {
    node.forEach(closed);
  } else if (node !== null && typeof node === "object") {
    const object = node as Json;
    if (object.type === "object" && object.properties !== undefined) {
      object.additionalProperties ??= false;
    }
    Object.values(object).forEach(closed);
  }
  return node;
}
