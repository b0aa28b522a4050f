import type { RouteBinding } from "../http-route-matcher.js";
import type { HttpRulePlan } from "../http-rules.js";
import {
  ERROR_ANSWERS,
  ERROR_SCHEMA_ROOTS,
  errorComponents,
  REQUEST_ID_HEADER_REF,
} from "./error-responses.js";
import {
  parametersOf,
  pathParameters,
  queryParameters,
  type RenderedPath,
  renderPath,
  requestBodyOf,
} from "./openapi-parameters.js";
import { createProtoJsonSchemas } from "./proto-json-schema.js";

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = { [key: string]: unknown };

/** The methods an OpenAPI 3.1 path item can hold; a route with another (a custom kind) cannot. */
const OPENAPI_METHODS = new Set([
  "GET",
  "PUT",
  "POST",
  "DELETE",
  "OPTIONS",
  "HEAD",
  "PATCH",
  "TRACE",
]);

const JSON_TYPE = "application/json";

/**
 * The OpenAPI 3.1 document of the REST routes `bindings` (httpRoutesOf's, as the REST door serves
 * them): one operation per route, in their order, with path and query parameters, the JSON body,
 * the 200 answer and the error answers (error-responses.ts), every schema derived from the
 * descriptors (proto-json-schema.ts). Deterministic: the same bindings give the same document.
 *
 * A route OpenAPI cannot express is left out and named in `info.description`: a custom HTTP
 * method (OpenAPI 3.1 has eight), or a second route with the same method at a path OpenAPI cannot
 * tell apart (variables with patterns such as `{name=shelves/*}` become one `{name}` segment).
 */
export function createOpenApiDocument(
  bindings: readonly RouteBinding<HttpRulePlan>[],
): OpenApiDocument {
  const schemas = createProtoJsonSchemas([
    ...bindings.flatMap(({ target }) => [
      { message: target.method.input, direction: "request" as const },
      { message: target.method.output, direction: "response" as const },
    ]),
    ...ERROR_SCHEMA_ROOTS,
  ]);
  const errors = errorComponents(schemas);
  const paths: Record<string, Record<string, unknown>> = {};
  const shapes = new Map<string, RenderedPath>();
  const operationIds = new Set<string>();
  const routesOfMethod = new Map<string, number>();
  const leftOut: string[] = [];
  const services = new Map<string, string>();

  for (const { httpMethod, target: plan } of bindings) {
    const { method } = plan;
    const owner = `${method.parent.typeName}.${method.name}`;
    const index = (routesOfMethod.get(owner) ?? 0) + 1;
    routesOfMethod.set(owner, index);
    const route = `${httpMethod} ${plan.template.source} (${owner})`;
    if (!OPENAPI_METHODS.has(httpMethod)) {
      leftOut.push(`${route}: OpenAPI 3.1 has no method ${httpMethod}`);
      continue;
    }
    const rendered = renderPath(plan.template);
    const shared = shapes.get(rendered.shape) ?? rendered;
    shapes.set(rendered.shape, shared);
    const item = paths[shared.path] ?? {};
    const verb = httpMethod.toLowerCase();
    if (item[verb] !== undefined) {
      leftOut.push(
        `${route}: another ${httpMethod} route has the same OpenAPI path ${shared.path}`,
      );
      continue;
    }
    paths[shared.path] = item;
    const file = `${method.parent.file.name}.proto`;
    services.set(method.parent.typeName, file);
    item[verb] = {
      operationId: operationIdOf(plan, index, operationIds),
      summary: method.name,
      description: `Calls \`${owner}\`; its fields, behaviour and error reasons are documented in \`${file}\`.`,
      tags: [method.parent.typeName],
      ...(method.deprecated ? { deprecated: true } : {}),
      ...parametersOf([
        ...pathParameters(plan, rendered, shared, schemas),
        ...queryParameters(plan, schemas),
      ]),
      ...requestBodyOf(plan, schemas),
      responses: {
        "200": {
          description: `The response message \`${method.output.typeName}\` as proto3 JSON; every field without explicit presence is written, at its default value too.`,
          headers: { "x-request-id": REQUEST_ID_HEADER_REF },
          content: { [JSON_TYPE]: { schema: schemas.message(method.output, "response") } },
        },
        ...Object.fromEntries(
          ERROR_ANSWERS.filter((answer) => !answer.bodyRoutesOnly || plan.body !== "").map(
            (answer) => [String(answer.status), { $ref: `#/components/responses/${answer.name}` }],
          ),
        ),
      },
    };
  }

  const packages = [...new Set([...services.keys()].map((name) => name.replace(/\.[^.]*$/, "")))];
  return {
    openapi: "3.1.0",
    info: {
      title: "otp-auth REST API",
      version: packages.sort().join(", ") || "none",
      description: describeDocument(leftOut),
    },
    servers: [{ url: "/", description: "The server that serves this document." }],
    security: [{}, { serviceToken: [] }],
    tags: [...services.entries()].map(([name, file]) => ({
      name,
      description: `The REST routes of \`${name}\` (\`${file}\`).`,
    })),
    paths,
    components: {
      schemas: sortedByKey({ ...schemas.components(), ...errors.schemas }),
      responses: errors.responses,
      headers: errors.headers,
      securitySchemes: {
        serviceToken: {
          type: "http",
          scheme: "bearer",
          description:
            "One of the server's SERVICE_TOKENS, for the questions only trusted services may ask (GetStatus by email, when SERVICE_TOKENS is set).",
        },
      },
    },
  };
}

/** The document as the service serves it and `npm run generate` commits it: byte for byte. */
export function openApiText(document: OpenApiDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

function describeDocument(leftOut: readonly string[]): string {
  const lines = [
    "The REST routes of otp-auth, generated from the .proto files' `google.api.http` rules (`npm run generate`); never edited by hand.",
    "",
    'Bodies and answers are proto3 JSON. Field names are given in lowerCamel; the service also reads the proto\'s own names (`session_token`) in bodies and query parameters, and ignores unknown body fields. Answers write every field without explicit presence, at its default value too (`false`, `""`, `0`, `[]`). 64-bit integers are decimal strings, Timestamps RFC 3339 strings, Durations strings such as `"300s"`.',
    "",
    "Refusals are `google.rpc.Status` JSON with an ErrorInfo detail first; the HTTP status follows the gRPC code as gateways map it. Every answer carries `x-request-id`.",
    "",
    "The same RPCs over gRPC, gRPC-Web and Connect (`POST /<package>.<Service>/<Method>`) are not described here.",
  ];
  if (leftOut.length > 0) {
    lines.push("", "Routes served but not described here:", ...leftOut.map((each) => `- ${each}`));
  }
  return lines.join("\n");
}

/**
 * `Service_Method` as grpc-gateway names operations, `Service_Method2` for a method's second
 * route; by full service name if two services share a name.
 */
function operationIdOf(plan: HttpRulePlan, index: number, taken: Set<string>): string {
  const { method } = plan;
  const suffix = index > 1 ? String(index) : "";
  let id = `${method.parent.name}_${method.name}${suffix}`;
  if (taken.has(id)) {
    id = `${method.parent.typeName.replaceAll(".", "_")}_${method.name}${suffix}`;
  }
  taken.add(id);
  return id;
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}
