import { StatusSchema } from "../../../../gen/google/rpc/status_pb.js";
import { codeName, ERROR_DETAIL_TYPES, ERROR_DOMAIN } from "../../../rpc/error-mapping.js";
import { grpcCodesOf } from "../../http-status.js";
import type { JsonSchema, ProtoJsonSchemas, SchemaRoot } from "./proto-json-schema.js";

/** One HTTP status the REST door refuses with, as the document names and describes it. */
export interface ErrorAnswer {
  readonly status: number;
  /** Its key in `components.responses`. */
  readonly name: string;
  readonly description: string;
  /** Only routes that take a body answer it. */
  readonly bodyRoutesOnly?: boolean;
}

/**
 * The statuses httpStatusOf gives the codes that error-mapping.ts's table answers with, and the
 * door's own refusals (405, 413, 415); each also carries the gRPC codes grpcCodesOf lists for it.
 */
export const ERROR_ANSWERS: readonly ErrorAnswer[] = [
  {
    status: 400,
    name: "BadRequest",
    description:
      "The request cannot be served as it is: a malformed field, body or query parameter (a BadRequest detail names it), or a state it does not fit (e.g. a code already used).",
  },
  {
    status: 401,
    name: "Unauthenticated",
    description: "A wrong code, or a question that needs a service token asked without one.",
  },
  {
    status: 404,
    name: "NotFound",
    description:
      "Nothing to answer about (e.g. no code was requested); also the answer, reason ROUTE_NOT_FOUND, at any path this document does not list.",
  },
  {
    status: 405,
    name: "MethodNotAllowed",
    description:
      "The answer at this path to any method this document does not list for it (reason METHOD_NOT_ALLOWED); `Allow` lists the methods it takes.",
  },
  {
    status: 413,
    name: "PayloadTooLarge",
    description:
      "The body is over the size limit (reason MESSAGE_TOO_LARGE); waiting does not help.",
  },
  {
    status: 415,
    name: "UnsupportedMediaType",
    description: "A body that is not JSON (`application/json`).",
    bodyRoutesOnly: true,
  },
  {
    status: 429,
    name: "TooManyRequests",
    description:
      "A request limit or a lock; `Retry-After` (and the RetryInfo detail) says when to try again.",
  },
  {
    status: 500,
    name: "InternalError",
    description: "An unexpected error; the message says no more (the service logs the cause).",
  },
  {
    status: 503,
    name: "Unavailable",
    description: "Storage or delivery failed; the call may be retried.",
  },
  {
    status: 504,
    name: "GatewayTimeout",
    description: "The code expired (reason OTP_EXPIRED), or the call ran out of time.",
  },
];

const STATUS_KEY = StatusSchema.typeName;
const TYPE_URL_PREFIX = "type.googleapis.com/";

/** What the error answers need besides the message schemas: roots for createProtoJsonSchemas. */
export const ERROR_SCHEMA_ROOTS: readonly SchemaRoot[] = [StatusSchema, ...ERROR_DETAIL_TYPES].map(
  (message) => ({ message, direction: "response" }),
);

/** The `components` the error answers add: the Status schema, the responses, their headers. */
export interface ErrorComponents {
  readonly schemas: Record<string, JsonSchema>;
  readonly responses: Record<string, JsonSchema>;
  readonly headers: Record<string, JsonSchema>;
}

/** A header every answer carries: the call's request id (echoed when the client sent one). */
export const REQUEST_ID_HEADER_REF = { $ref: "#/components/headers/RequestId" } as const;

/**
 * `google.rpc.Status` as the REST door writes it (statusJsonOf): `code`, `message` and `details`,
 * always present, each detail one of ERROR_DETAIL_TYPES with its `@type` first; and one response
 * per ERROR_ANSWERS entry, whose `code` is one of grpcCodesOf its status.
 */
export function errorComponents(schemas: ProtoJsonSchemas): ErrorComponents {
  const status = schemas.objectOf(StatusSchema, "response");
  const details = ERROR_DETAIL_TYPES.map((type) => {
    const object = schemas.objectOf(type, "response");
    return {
      ...object,
      properties: {
        "@type": { const: `${TYPE_URL_PREFIX}${type.typeName}` },
        ...(object.properties as object),
      },
      required: ["@type", ...((object.required as string[] | undefined) ?? [])],
    };
  });
  const statusSchema = {
    type: status.type,
    title: status.title,
    description: `The refusal as google.rpc.Status: the gRPC code (branch on ErrorInfo.reason, not on \`message\`), and its details, ErrorInfo first (domain ${ERROR_DOMAIN}).`,
    properties: {
      ...(status.properties as object),
      details: { type: "array", items: { oneOf: details } },
    },
    required: status.required,
  };
  const responses: Record<string, JsonSchema> = {};
  for (const answer of ERROR_ANSWERS) {
    const codes = grpcCodesOf(answer.status);
    const named = codes.map((code) => `${codeName(code)} (${code})`).join(", ");
    responses[answer.name] = {
      description: `${answer.description} gRPC code: ${named}.`,
      headers: { "x-request-id": REQUEST_ID_HEADER_REF, ...extraHeaders(answer.status) },
      content: {
        "application/json": {
          schema: {
            $ref: `#/components/schemas/${STATUS_KEY}`,
            properties: { code: { enum: codes } },
          },
        },
      },
    };
  }
  return {
    schemas: { [STATUS_KEY]: statusSchema },
    responses,
    headers: {
      RequestId: {
        description:
          "The call's id, as the client sent it in `x-request-id` or made up by the service; it is in the service's log line for the call.",
        required: true,
        schema: { type: "string" },
      },
    },
  };
}

function extraHeaders(status: number): Record<string, JsonSchema> {
  switch (status) {
    case 405:
      return {
        Allow: {
          description: "The methods this path takes.",
          required: true,
          schema: { type: "string" },
        },
      };
    case 429:
      return {
        "Retry-After": {
          description: "Whole seconds to wait before trying again (at least 1).",
          required: true,
          schema: { type: "integer", minimum: 1 },
        },
      };
    default:
      return {};
  }
}
