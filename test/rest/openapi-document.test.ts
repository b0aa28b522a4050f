import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  create,
  createRegistry,
  type DescField,
  type DescFile,
  type DescMessage,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import {
  FeatureSet_FieldPresence,
  file_google_protobuf_api,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
} from "@bufbuild/protobuf/wkt";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import * as fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { file_auth_v1_auth } from "../../gen/auth/v1/auth_pb.js";
import { file_google_api_http } from "../../gen/google/api/http_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health } from "../../gen/health/v1/health_pb.js";
import { httpRoutesOf } from "../../src/server/rest/http-rules.js";
import {
  createOpenApiDocument,
  type OpenApiDocument,
  openApiText,
} from "../../src/server/rest/openapi/openapi-document.js";
import { createProtoJsonSchemas } from "../../src/server/rest/openapi/proto-json-schema.js";
import { closed, createOpenApiChecker, OPENAPI_FILE } from "../support/openapi-conformance.js";
import { buildFixtureService } from "../support/rest-fixture.js";

// The document generator: what it writes is what CI keeps in gen/, it passes two validators, it
// describes a service from annotations alone, and its schemas hold whatever proto3 JSON the REST
// door can write for any message.

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
type Json = { [key: string]: unknown };

let fixture: OpenApiDocument;
beforeAll(() => {
  fixture = createOpenApiDocument(httpRoutesOf(buildFixtureService().methods));
}, 30_000);

const documents = {
  "the service's document (gen/openapi/openapi.json)": async () => readFile(OPENAPI_FILE, "utf8"),
  "a test-only proto's document": async () => openApiText(fixture),
};

describe("the OpenAPI document", () => {
  it("in gen/ is what `npm run generate:openapi` writes from gen/'s descriptors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "otp-auth-openapi-"));
    try {
      const out = join(dir, "openapi.json");
      await run("npx", ["tsx", "src/server/rest/openapi/write-openapi.ts", out], { cwd: root });
      expect(await readFile(out, "utf8")).toBe(await readFile(OPENAPI_FILE, "utf8"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it.each(Object.keys(documents))(
    "%s passes `redocly lint` (recommended rules, warnings as errors)",
    async (name) => {
      const dir = await mkdtemp(join(tmpdir(), "otp-auth-openapi-"));
      try {
        const file = join(dir, "openapi.json");
        await writeFile(file, await documents[name as keyof typeof documents]());
        const lint = run(
          join(root, "node_modules/.bin/redocly"),
          ["lint", "--config", join(root, "test/rest/redocly.yaml"), "--format", "stylish", file],
          {
            cwd: root,
            env: {
              ...process.env,
              REDOCLY_TELEMETRY: "off",
              REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
            },
          },
        );
        await expect(
          lint.catch((error: { stdout: string; stderr: string }) => {
            throw new Error(`redocly lint failed:\n${error.stdout}\n${error.stderr}`);
          }),
        ).resolves.toBeDefined();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it.each(Object.keys(documents))(
    "%s is valid by the OpenAPI 3.1 JSON Schema (@seriousme/openapi-schema-validator)",
    async (name) => {
      const text = await documents[name as keyof typeof documents]();
      const result = await new Validator().validate(
        JSON.parse(text) as Parameters<Validator["validate"]>[0],
      );
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
    },
  );
});

describe("a service's document from its annotations alone", () => {
  const paths = () => fixture.paths as Record<string, Record<string, Json>>;

  it("describes every route OpenAPI can express, and names the one it cannot", () => {
    expect(
      Object.entries(paths()).flatMap(([path, item]) =>
        Object.entries(item).map(([verb, op]) => `${verb} ${path} ${op.operationId}`),
      ),
    ).toEqual([
      "get /v1/{name} FixtureService_GetBook",
      "patch /v1/{name} FixtureService_UpdateBook",
      "get /v1/books/{name} FixtureService_GetBook2",
      "get /v1/shelves/{shelf}/books:search FixtureService_SearchBooks",
    ]);
    expect((fixture.info as Json).description).toContain(
      "- REPORT /v1/files/{path=**} (rest_fixture.v1.FixtureService.ReportFile): OpenAPI 3.1 has no method REPORT",
    );
  });

  it("gives a multi-segment variable a pattern, and a shared path the first route's names", () => {
    const get = paths()["/v1/{name}"]?.get?.parameters as Json[];
    expect(get[0]).toMatchObject({
      name: "name",
      in: "path",
      schema: { type: "string", pattern: "^shelves/[^/]+/books/[^/]+$" },
    });
    const patch = paths()["/v1/{name}"]?.patch as Json;
    expect((patch.parameters as Json[])[0]).toMatchObject({
      name: "name",
      description: expect.stringContaining("`book.name`"),
      schema: { pattern: "^books/[^/]+$" },
    });
    // The body is the one field `book`; what neither it nor the path binds is a query parameter.
    expect((patch.parameters as Json[]).map((each) => `${each.in} ${each.name}`)).toEqual([
      "path name",
      "query updateMask",
    ]);
    expect(patch.requestBody).toMatchObject({
      content: {
        "application/json": { schema: { $ref: "#/components/schemas/rest_fixture.v1.Book" } },
      },
    });
  });

  it("takes every field the path leaves as a query parameter: repeated, numbers, booleans, enums, nested", () => {
    const search = paths()["/v1/shelves/{shelf}/books:search"]?.get as Json;
    expect((search.parameters as Json[]).map((each) => [each.in, each.name, each.schema])).toEqual([
      ["path", "shelf", { type: "string" }],
      ["query", "tags", { type: "array", items: { type: "string" } }],
      ["query", "pageSize", { type: "integer", format: "int32" }],
      ["query", "inPrint", { type: "boolean" }],
      ["query", "kind", { $ref: "#/components/schemas/rest_fixture.v1.SearchBooksRequest.Kind" }],
      ["query", "author.familyName", { type: "string" }],
    ]);
    expect(
      (fixture.components as { schemas: Json }).schemas["rest_fixture.v1.SearchBooksRequest.Kind"],
    ).toEqual({ type: "string", title: "Kind", enum: ["KIND_UNSPECIFIED", "KIND_NOVEL"] });
  });

  it("never offers a secret field as a query parameter", async () => {
    const service = JSON.parse(await readFile(OPENAPI_FILE, "utf8")) as Json;
    const get = (service.paths as Record<string, Record<string, Json>>)["/auth/status"]?.get;
    expect(((get?.parameters ?? []) as Json[]).map((each) => each.name)).toEqual([
      "email",
      "externalId",
    ]);
  });
});

// Messages of every shape the generated code and the well-known types offer: proto2 and proto3,
// optional, oneofs, repeated, maps, nested and recursive messages, enums, 64-bit integers,
// floats, bytes, Timestamp, Duration, FieldMask, Struct, Value, ListValue, wrappers.
const FILES: DescFile[] = [
  file_auth_v1_auth,
  file_google_rpc_error_details,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_google_api_http,
  file_google_protobuf_descriptor,
  file_google_protobuf_type,
  file_google_protobuf_api,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_duration,
  file_google_protobuf_field_mask,
  file_google_protobuf_wrappers,
];
const MESSAGES = [...createRegistry(...FILES)].filter(
  (desc): desc is DescMessage => desc.kind === "message",
);
const MAX_DEPTH = 3;

describe("the schemas of proto3 JSON", () => {
  it("hold what toJson with default values writes for any message, and name every field it writes", () => {
    const schemas = createProtoJsonSchemas(
      MESSAGES.map((message) => ({ message, direction: "response" as const })),
    );
    const roots = new Map(
      MESSAGES.map((message) => [message, schemas.message(message, "response")]),
    );
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormatsModule.default(ajv);
    ajv.addSchema(closed({ components: { schemas: schemas.components() } }) as Json, "doc.json");
    for (const message of MESSAGES) {
      const schema = roots.get(message) as Json;
      const validate = ajv.compile(
        typeof schema.$ref === "string"
          ? { $ref: `doc.json${schema.$ref}` }
          : (closed(schema) as Json),
      );
      fc.assert(
        fc.property(initOf(message, 0), (init) => {
          const json = toJson(message, create(message, init), { alwaysEmitImplicit: true });
          expect(validate(json), `${message.typeName}: ${ajv.errorsText(validate.errors)}`).toBe(
            true,
          );
        }),
        { numRuns: 25 },
      );
    }
  });

  it("make a message's request form require nothing, its response form what is always written", () => {
    const schemas = createProtoJsonSchemas([]);
    const objects = ["request", "response"].map((direction) =>
      schemas.objectOf(
        MESSAGES.find((each) => each.typeName === "auth.v1.GetStatusResponse") as DescMessage,
        direction as "request" | "response",
      ),
    );
    expect(objects[0]?.required).toBeUndefined();
    // Timestamps have explicit presence: absent until set.
    expect(objects[1]?.required).toEqual([
      "authenticated",
      "email",
      "purpose",
      "sessionId",
      "accessToken",
      "userId",
      "externalId",
    ]);
  });
});

describe("the conformance checker the e2e tests use", () => {
  const checker = createOpenApiChecker();
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    method: "GET",
    path: "/auth/status?email=ada@example.com",
    status,
    headers: new Headers({ "content-type": "application/json", "x-request-id": "r1", ...headers }),
    body: JSON.stringify(body),
  });
  const status = {
    authenticated: false,
    email: "",
    purpose: "",
    sessionId: "",
    accessToken: "",
    userId: "",
    externalId: "",
  };

  it("passes an answer as the document describes it", () => {
    expect(checker.problems(answer(200, status))).toEqual([]);
  });

  it("fails a missing field, a field the document does not name, a wrong type, an undocumented status", () => {
    const { userId: _, ...missing } = status;
    expect(checker.problems(answer(200, missing))).not.toEqual([]);
    expect(checker.problems(answer(200, { ...status, extra: 1 }))).not.toEqual([]);
    expect(checker.problems(answer(200, { ...status, authenticated: "no" }))).not.toEqual([]);
    expect(checker.problems(answer(418, status))).not.toEqual([]);
  });

  it("fails a 429 without Retry-After, and a refusal whose code the status cannot carry", () => {
    const refusal = { code: 8, message: "slow down", details: [] };
    expect(checker.problems(answer(429, refusal, { "retry-after": "5" }))).toEqual([]);
    expect(checker.problems(answer(429, refusal))).not.toEqual([]);
    expect(
      checker.problems(answer(429, { ...refusal, code: 3 }, { "retry-after": "5" })),
    ).not.toEqual([]);
  });
});

/** Arbitrary init objects for `message`, as `create` takes them; depth-limited. */
function initOf(message: DescMessage, depth: number): fc.Arbitrary<Json> {
  const special = wellKnownInit(message.typeName);
  if (special !== undefined) {
    return special;
  }
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of message.fields) {
    if (field.oneof === undefined) {
      entries[field.localName] = fieldValues(field, depth);
    }
  }
  for (const oneof of message.oneofs) {
    entries[oneof.localName] = fc.oneof(
      fc.constant({ case: undefined }),
      ...oneof.fields.map((field) =>
        fieldValues(field, depth).map((value) =>
          value === undefined ? { case: undefined } : { case: field.localName, value },
        ),
      ),
    );
  }
  // proto2 `required` fields must be set, or toJson refuses the message.
  const required = message.fields
    .filter((field) => field.presence === FeatureSet_FieldPresence.LEGACY_REQUIRED)
    .map((field) => field.localName);
  return fc
    .record(entries, { requiredKeys: required })
    .map((init) =>
      Object.fromEntries(Object.entries(init).filter(([, value]) => value !== undefined)),
    );
}

function fieldValues(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const nested = (desc: DescMessage) =>
    depth >= MAX_DEPTH || desc.typeName === "google.protobuf.Any"
      ? fc.constant(undefined)
      : initOf(desc, depth + 1);
  switch (field.fieldKind) {
    case "list": {
      const element =
        field.listKind === "message"
          ? nested(field.message)
          : field.listKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalarOf(field.scalar, field.longAsString);
      return fc
        .array(element, { maxLength: 3 })
        .map((values) => values.filter((value) => value !== undefined));
    }
    case "map": {
      const element =
        field.mapKind === "message"
          ? nested(field.message)
          : field.mapKind === "enum"
            ? fc.constantFrom(...field.enum.values.map((value) => value.number))
            : scalarOf(field.scalar, false);
      return fc
        .dictionary(mapKeyOf(field.mapKey), element, { maxKeys: 3 })
        .map((record) =>
          Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)),
        );
    }
    case "message":
      return nested(field.message);
    case "enum":
      return fc.constantFrom(...field.enum.values.map((value) => value.number));
    case "scalar":
      return scalarOf(field.scalar, field.longAsString);
  }
}

function scalarOf(scalar: ScalarType, longAsString: boolean): fc.Arbitrary<unknown> {
  const long = (min: bigint, max: bigint) =>
    fc.bigInt(min, max).map((value) => (longAsString ? String(value) : value));
  switch (scalar) {
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.integer();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(-(2n ** 63n), 2n ** 63n - 1n);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(0n, 2n ** 64n - 1n);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return fc.string({ maxLength: 8 });
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 8 });
  }
}

/** Map keys as protobuf-es keeps them: strings of the key's JSON spelling. */
function mapKeyOf(key: ScalarType): fc.Arbitrary<string> {
  switch (key) {
    case ScalarType.STRING:
      return fc.string({ maxLength: 6 });
    case ScalarType.BOOL:
      return fc.constantFrom("true", "false");
    default:
      return fc.integer({ min: 0, max: 2 ** 31 - 1 }).map(String);
  }
}

const VALUE: fc.Arbitrary<Json> = fc.oneof(
  fc.constant({ kind: { case: "nullValue", value: 0 } }),
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .map((value) => ({ kind: { case: "numberValue", value } })),
  fc.string({ maxLength: 6 }).map((value) => ({ kind: { case: "stringValue", value } })),
  fc.boolean().map((value) => ({ kind: { case: "boolValue", value } })),
);

/** Well-known types whose values are constrained (ranges, signs, spellings) or recursive. */
function wellKnownInit(typeName: string): fc.Arbitrary<Json> | undefined {
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return fc.record({
        seconds: fc.bigInt(-62135596800n, 253402300799n),
        nanos: fc.integer({ min: 0, max: 999_999_999 }),
      });
    case "google.protobuf.Duration":
      return fc
        .tuple(fc.bigInt(-315576000000n, 315576000000n), fc.integer({ min: 0, max: 999_999_999 }))
        .map(([seconds, nanos]) => ({ seconds, nanos: seconds < 0n ? -nanos : nanos }));
    case "google.protobuf.FieldMask":
      return fc.record({
        paths: fc.array(fc.stringMatching(/^[a-z]{1,4}(?:_[a-z]{1,4})?$/), { maxLength: 3 }),
      });
    case "google.protobuf.Value":
      return VALUE;
    case "google.protobuf.Struct":
      return fc.record({
        fields: fc.dictionary(fc.string({ maxLength: 6 }), VALUE, { maxKeys: 3 }),
      });
    case "google.protobuf.ListValue":
      return fc.record({ values: fc.array(VALUE, { maxLength: 3 }) });
    default:
      return undefined;
  }
}
