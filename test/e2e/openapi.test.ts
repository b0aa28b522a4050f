import { readFileSync } from "node:fs";
import * as fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OtpError } from "../../src/domain/errors.js";
import { createFailingStore } from "../support/fakes.js";
import {
  createOpenApiChecker,
  OPENAPI_FILE,
  type RestAnswer,
} from "../support/openapi-conformance.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// GET /openapi.json on a real server, and the service held to it: every documented route called
// with generated requests, valid and not, and every answer checked against the document's
// response for its route and status (test/support/openapi-conformance.ts).

const checker = createOpenApiChecker();
const committed = readFileSync(OPENAPI_FILE, "utf8");
const SERVICE_TOKEN = "openapi-test-service-token-0123456789abcdef";

type Json = { [key: string]: unknown };

async function send(
  server: TestServer,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<RestAnswer & { json: Json | undefined }> {
  const res = await fetch(`${server.baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers ?? {},
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const body = await res.text();
  const answer = {
    method: request.method,
    path: request.path,
    status: res.status,
    headers: res.headers,
    body,
  };
  let json: Json | undefined;
  try {
    json = JSON.parse(body) as Json;
  } catch {
    json = undefined;
  }
  return { ...answer, json };
}

function expectConforms(answer: RestAnswer): void {
  expect(checker.problems(answer), `${answer.method} ${answer.path} → ${answer.status}`).toEqual(
    [],
  );
}

describe("GET /openapi.json", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it("serves the committed document byte for byte, cacheable and readable from any origin", async () => {
    const res = await fetch(`${server.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(committed);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("public, max-age=600");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const head = await fetch(`${server.baseUrl}/openapi.json`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(committed)));
    const post = await fetch(`${server.baseUrl}/openapi.json`, { method: "POST" });
    expect({ status: post.status, allow: post.headers.get("allow") }).toEqual({
      status: 405,
      allow: "GET, HEAD",
    });
  });
});

/** Every operation of the document: its path, method, request body schema and query names. */
const operations = Object.entries(checker.document.paths as Record<string, Json>).flatMap(
  ([path, item]) =>
    Object.entries(item).map(([verb, operation]) => {
      const op = operation as Json;
      const body = (op.requestBody as Json | undefined)?.content as Json | undefined;
      const schema = (body?.["application/json"] as Json | undefined)?.schema as Json | undefined;
      const parameters = (op.parameters as Json[] | undefined) ?? [];
      return {
        path,
        method: verb.toUpperCase(),
        body: schema === undefined ? undefined : resolveSchema(schema),
        query: parameters.filter((each) => each.in === "query") as Json[],
      };
    }),
);

function resolveSchema(schema: Json): Json {
  const ref = schema.$ref;
  if (typeof ref !== "string") {
    return schema;
  }
  const name = ref.replace("#/components/schemas/", "");
  return ((checker.document.components as Json).schemas as Json)[name] as Json;
}

// Values the service tells apart, by field name; `<right>` and `<live>` are resolved when the
// request is sent (the code last sent to the email, a session token a VerifyOtp answered).
const EMAILS = ["ada@example.com", "bob@example.com", "cy@example.com"];
const byName: Record<string, fc.Arbitrary<unknown>> = {
  email: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...EMAILS) },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z]{1,8}@example\.com$/) },
    { weight: 1, arbitrary: fc.constantFrom("not-an-email", "", "a@b", " ada@example.com ") },
  ),
  // Mostly absent: an account is named by email or external id, and naming both is refused.
  externalId: fc.oneof(
    { weight: 6, arbitrary: fc.constant("") },
    { weight: 1, arbitrary: fc.constantFrom("u-123", "has space") },
  ),
  otp: fc.constantFrom("<right>", "<right>", "000000", "12", "abcdef"),
  purpose: fc.constantFrom("", "", "", "login", "reset", "Bad Purpose"),
  sessionToken: fc.constantFrom("<live>", "<live>", "", "not-a-token", "x".repeat(43)),
  allSessions: fc.boolean(),
};

function fieldValues(name: string, schema: Json): fc.Arbitrary<unknown> {
  const known = byName[name];
  if (known !== undefined) {
    return known;
  }
  switch (schema.type) {
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer();
    case "array":
      return fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 });
    default:
      return fc.string({ maxLength: 12 });
  }
}

/** An object of the schema's properties: usually all of them, sometimes only some. */
function validObject(schema: Json): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.fromEntries(
    Object.entries((schema.properties as Record<string, Json> | undefined) ?? {}).map(
      ([name, property]) => [name, fieldValues(name, property)],
    ),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.record(properties) },
    { weight: 1, arbitrary: fc.record(properties, { requiredKeys: [] }) },
  );
}

type Body = { contentType: string; text: string } | undefined;

function bodyOf(schema: Json): fc.Arbitrary<Body> {
  const json = (text: string) => ({ contentType: "application/json", text });
  return fc.oneof(
    { weight: 8, arbitrary: validObject(schema).map((value) => json(JSON.stringify(value))) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 2 }).map(json) },
    { weight: 1, arbitrary: fc.constantFrom(json("{"), json("[]"), json('{"email":5}')) },
    {
      weight: 1,
      arbitrary: fc.constant(json(JSON.stringify({ email: "a".repeat(70 * 1024) }))),
    },
    {
      weight: 1,
      arbitrary: validObject(schema).map((value) => ({
        contentType: "text/plain",
        text: JSON.stringify(value),
      })),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function queryOf(parameters: readonly Json[]): fc.Arbitrary<[string, string][]> {
  const documented = parameters.map((parameter) =>
    fieldValues(parameter.name as string, parameter.schema as Json).map(
      (value) => [parameter.name as string, String(value)] as [string, string],
    ),
  );
  const undocumented = fc.constantFrom<[string, string]>(
    ["session_token", "<live>"],
    ["nope", "1"],
    ["email.x", "1"],
  );
  return fc
    .tuple(
      fc.subarray(documented.length > 0 ? documented : []),
      fc.option(undocumented, { freq: 5 }),
    )
    .chain(([chosen, extra]) =>
      fc
        .tuple(...chosen)
        .map((pairs) => (extra === null ? pairs : [...pairs, extra]) as [string, string][]),
    );
}

const WRONG_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/** One generated request: a documented operation, or a wrong method or path on purpose. */
const requests = fc.constantFrom(...operations).chain((operation) =>
  fc.record({
    operation: fc.constant(operation),
    method: fc.oneof(
      { weight: 8, arbitrary: fc.constant(operation.method) },
      { weight: 1, arbitrary: fc.constantFrom(...WRONG_METHODS, "HEAD") },
    ),
    pathSuffix: fc.oneof(
      { weight: 12, arbitrary: fc.constant("") },
      { weight: 1, arbitrary: fc.constantFrom("/", "/x", "-nope") },
    ),
    body: operation.body === undefined ? fc.constant(undefined) : bodyOf(operation.body),
    query:
      operation.method === "GET" ? queryOf(operation.query) : fc.constant<[string, string][]>([]),
    authorization: fc.constantFrom(undefined, `Bearer ${SERVICE_TOKEN}`, "Bearer wrong"),
    idempotencyKey: fc.oneof(
      { weight: 6, arbitrary: fc.constant(null) },
      { weight: 2, arbitrary: fc.constantFrom("key-1", "key-2") },
      { weight: 1, arbitrary: fc.constantFrom("bad key", "k".repeat(300)) },
    ),
  }),
);

describe("the REST routes, held to the OpenAPI document", () => {
  let server: TestServer;
  const seen = new Map<string, Set<number>>();
  let sessionToken = "";

  beforeAll(async () => {
    server = await startTestServer({
      SERVICE_TOKENS: SERVICE_TOKEN,
      OTP_REQUEST_LIMIT: "1/1h",
      OTP_IP_REQUEST_LIMIT: "off",
    });
  });
  afterAll(() => server.close());

  const resolve = (text: string, email: string) =>
    text.replaceAll("<live>", sessionToken).replaceAll("<right>", codeFor(email));
  const codeFor = (email: string) => {
    try {
      return server.sender.lastCodeFor(email.trim());
    } catch {
      return "000000";
    }
  };

  it("answers generated requests to every documented route as documented, never with a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(requests, { minLength: 1, maxLength: 6 }), async (batch) => {
        for (const request of batch) {
          const { operation, method } = request;
          const bodyless = method === "GET" || method === "HEAD";
          const email =
            request.query.find(([name]) => name === "email")?.[1] ??
            String(JSON.parse(safeJson(request.body?.text)).email ?? "");
          const query = request.query
            .map(
              ([name, value]) =>
                `${encodeURIComponent(name)}=${encodeURIComponent(resolve(value, email))}`,
            )
            .join("&");
          const headers: Record<string, string> = {};
          if (request.authorization !== undefined) {
            headers.authorization = request.authorization;
          }
          if (request.idempotencyKey !== null) {
            headers["idempotency-key"] = request.idempotencyKey;
          }
          if (request.body !== undefined && !bodyless) {
            headers["content-type"] = request.body.contentType;
          }
          const path = `${operation.path}${request.pathSuffix}${query === "" ? "" : `?${query}`}`;
          const answer = await send(server, {
            method,
            path,
            headers,
            ...(request.body === undefined || bodyless
              ? {}
              : { body: resolve(request.body.text, email) }),
          });
          expect(answer.status, `${method} ${path}`).toBeLessThan(500);
          expectConforms(answer);
          const key = `${operation.method} ${operation.path}`;
          seen.set(key, (seen.get(key) ?? new Set()).add(answer.status));
          // A VerifyOtp that succeeded: later requests may use its session.
          if (typeof answer.json?.sessionToken === "string" && answer.json.sessionToken !== "") {
            sessionToken = answer.json.sessionToken;
          }
        }
      }),
      { numRuns: 60 },
    );
    // Then the answers a random run may miss, asked for on purpose, so that every kind below is
    // seen whatever the seed: each held to the document like the rest.
    const json = { "content-type": "application/json" };
    const onPurpose = [
      { method: "POST", path: "/auth/request-otp", headers: json, body: '{"email":"nope"}' },
      { method: "GET", path: "/auth/status?email=ada%40example.com" },
      { method: "GET", path: "/auth/nothing-here" },
      { method: "GET", path: "/auth/request-otp" },
      {
        method: "POST",
        path: "/auth/request-otp",
        headers: json,
        body: JSON.stringify({ email: "a".repeat(70 * 1024) }),
      },
      {
        method: "POST",
        path: "/auth/request-otp",
        headers: { "content-type": "text/plain" },
        body: "{}",
      },
      // OTP_REQUEST_LIMIT is 1/1h here: the second request for one email is over it.
      {
        method: "POST",
        path: "/auth/request-otp",
        headers: json,
        body: '{"email":"limit@example.com"}',
      },
      {
        method: "POST",
        path: "/auth/request-otp",
        headers: json,
        body: '{"email":"limit@example.com"}',
      },
    ];
    const statuses = new Set([...seen.values()].flatMap((each) => [...each]));
    for (const request of onPurpose) {
      const answer = await send(server, request);
      expect(answer.status, `${request.method} ${request.path}`).toBeLessThan(500);
      expectConforms(answer);
      statuses.add(answer.status);
    }
    // Every documented route was reached, and each kind of answer was seen at least once.
    expect([...seen.keys()].sort()).toEqual(
      operations.map((operation) => `${operation.method} ${operation.path}`).sort(),
    );
    expect([...statuses].sort()).toEqual(
      expect.arrayContaining([200, 400, 401, 404, 405, 413, 415, 429]),
    );
  });
});

function safeJson(text: string | undefined): string {
  try {
    const value = JSON.parse(text ?? "{}") as unknown;
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? JSON.stringify(value)
      : "{}";
  } catch {
    return "{}";
  }
}

describe("the 5xx answers, held to the OpenAPI document", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const json = { "content-type": "application/json" };

  it("a bug is a 500 as documented", async () => {
    // Email lookups open (seed A's unauthenticated GET /auth/status), so the store is reached.
    server = await startTestServer(
      { STATUS_BY_EMAIL: "open" },
      { store: createFailingStore(() => new Error("bug")) },
    );
    const answer = await send(server, {
      method: "GET",
      path: "/auth/status?email=ada@example.com",
    });
    expect(answer.status).toBe(500);
    expectConforms(answer);
  });

  it("unreachable storage and a failed delivery are 503s as documented", async () => {
    server = await startTestServer(
      {},
      {
        store: createFailingStore(
          () => new OtpError({ kind: "storage_unavailable" }, "the database cannot be reached"),
        ),
      },
    );
    const storage = await send(server, {
      method: "POST",
      path: "/auth/request-otp",
      headers: json,
      body: '{"email":"ada@example.com"}',
    });
    expect(storage.status).toBe(503);
    expectConforms(storage);
    await server.close();
    server = await startTestServer();
    server.sender.fail(new Error("smtp down"));
    const delivery = await send(server, {
      method: "POST",
      path: "/auth/request-otp",
      headers: json,
      body: '{"email":"ada@example.com"}',
    });
    expect(delivery.status).toBe(503);
    expectConforms(delivery);
  });

  it("an expired code is a 504 as documented", async () => {
    server = await startTestServer();
    const body = '{"email":"ada@example.com"}';
    await send(server, { method: "POST", path: "/auth/request-otp", headers: json, body });
    const code = server.sender.lastCodeFor("ada@example.com");
    server.clock.advance(10 * 60_000);
    const answer = await send(server, {
      method: "POST",
      path: "/auth/verify-otp",
      headers: json,
      body: JSON.stringify({ email: "ada@example.com", otp: code }),
    });
    expect(answer.status).toBe(504);
    expectConforms(answer);
  });
});
