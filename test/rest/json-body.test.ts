import { fromJsonString } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameworkRefusalError } from "../../src/rpc/framework-refusals.js";
import { parseJsonBody, utf8JsonTypeOf } from "../../src/server/json-body.js";
import { duplicateKeyIn } from "../../src/server/json-duplicate-keys.js";

// The JSON policy of the doors that read JSON themselves, piece by piece; the doors' answers to it
// over a real socket are in test/e2e/protocol-hygiene.test.ts.

describe("finding a member name an object holds twice", () => {
  it.each([
    ['{"a":1,"a":2}', "a"],
    ['{"a":1,"b":{"c":1,"c":2}}', "c"],
    ['[{"a":1},{"b":[{"x":0,"y":{"z":[1,{"q":1,"q":1}]}}]}]', "q"],
    ['{"a":1,"\\u0061":2}', "a"],
    ['{"a\\"b":1,"a\\"b":2}', 'a"b'],
    ['{ "a" : 1 ,\n "a" : 2 }', "a"],
    ['{"__proto__":1,"__proto__":2}', "__proto__"],
    ['{"":1,"":2}', ""],
  ])("%s names %j", (json, name) => {
    expect(duplicateKeyIn(json)).toBe(name);
  });

  it.each([
    '{"a":1,"b":2}',
    '{"a":"a","b":"a"}',
    '{"a":{"a":{"a":1}}}',
    '[{"a":1},{"a":2}]',
    '{"a":[1,2,"a"],"b":{"a":1}}',
    '{"a":"\\\\","b":"\\"a\\":"}',
    '{"a,":1,"a":2,"{":3,"}":4,"[":5}',
    '"a"',
    "[]",
    "{}",
    "1",
  ])("%s has none", (json) => {
    expect(duplicateKeyIn(json)).toBeUndefined();
  });

  it("agrees with protobuf-es's own scan (the Connect door's) on random JSON", () => {
    fc.assert(
      fc.property(fc.json(), (json) => {
        const twice = `{"k":${json},"k":${json}}`;
        expect(duplicateKeyIn(json)).toBeUndefined();
        expect(duplicateKeyIn(twice)).toBe("k");
        expect(() => fromJsonString(ValueSchema, twice)).toThrow(/duplicate object key "k"/);
      }),
    );
  });

  it("finds a name written twice anywhere in random JSON", () => {
    const keyed = fc
      .dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 })
      .chain((object) => fc.tuple(fc.constant(object), fc.constantFrom(...Object.keys(object))));
    fc.assert(
      fc.property(keyed, fc.jsonValue(), ([object, name], value) => {
        const body = JSON.stringify(object);
        const twice = `{${JSON.stringify(name)}:${JSON.stringify(value)},${body.slice(1)}`;
        expect(duplicateKeyIn(`[1,{"x":${twice}}]`)).toBe(name);
        expect(duplicateKeyIn(body)).toBeUndefined();
      }),
    );
  });
});

describe("the content types that are JSON in UTF-8", () => {
  it.each([
    ["application/json", "application/json"],
    ["Application/JSON", "application/json"],
    ["application/json; charset=utf-8", "application/json"],
    ["application/json;charset=UTF-8", "application/json"],
    ['application/json; charset="UTF-8"', "application/json"],
    ["application/json; CHARSET=utf8", "application/json"],
    ["application/json ;  charset = utf-8 ", "application/json"],
    ["application/json; charset=utf-8; profile=x", "application/json"],
    ['application/json; profile="a;b"', "application/json"],
    ["application/json;", "application/json"],
    ["application/merge-patch+json", "application/merge-patch+json"],
    ["application/connect+json; charset=utf-8", "application/connect+json"],
  ])("%j is %j", (contentType, type) => {
    expect(utf8JsonTypeOf(contentType)).toBe(type);
  });

  it.each([
    null,
    "",
    "text/plain",
    "application/jsonx",
    "application/json-seq",
    "application/json; charset=latin1",
    "application/json; charset=utf-16",
    'application/json; charset="utf-16"',
    "application/json; charset=",
    "application/json; charset=utf-8; charset=latin1",
    "application/json; charset=utf-8 x",
    'application/json; charset="utf-8',
  ])("%j is not", (contentType) => {
    expect(utf8JsonTypeOf(contentType)).toBeUndefined();
  });
});

describe("reading a JSON body", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const refusal = (contentType: string | null, body: Uint8Array) => {
    try {
      parseJsonBody(contentType, body);
    } catch (error) {
      expect(error).toBeInstanceOf(FrameworkRefusalError);
      return (error as FrameworkRefusalError).refusal;
    }
    throw new Error("expected a refusal");
  };

  it("reads a JSON object", () => {
    expect(parseJsonBody('application/json; charset="utf-8"', bytes('{"a":[1]}'))).toEqual({
      a: [1],
    });
  });

  it.each([
    ["empty", "", /it is empty/],
    ["whitespace", " \n", /Unexpected end of JSON input/],
    ["duplicate names", '{"a":1,"b":{"c":1,"c":2}}', /duplicate object key "c"/],
  ])("refuses a body that is %s as undecodable", (_what, text, description) => {
    expect(refusal("application/json", bytes(text))).toMatchObject({
      kind: "undecodable_body",
      description: expect.stringMatching(description),
    });
  });

  it("refuses a charset other than UTF-8 as an unsupported content type, before the body", () => {
    expect(refusal("application/json; charset=latin1", bytes(""))).toMatchObject({
      kind: "unsupported_content_type",
    });
  });
});
