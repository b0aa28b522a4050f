import { describe, expect, it } from "vitest";
import { PathTemplateError, parsePathTemplate } from "../../src/server/rest/http-path-template.js";

describe("the HttpRule path template grammar", () => {
  it("reads literals, variables, wildcards and a verb", () => {
    const template = parsePathTemplate("/v1/{name=shelves/*/books/*}/pages/{page}/**:undelete");
    expect(template.segments.map((s) => (s.kind === "literal" ? s.value : s.kind))).toEqual([
      "v1",
      "shelves",
      "single",
      "books",
      "single",
      "pages",
      "single",
      "rest",
    ]);
    expect(template.variables).toEqual([
      { fieldPath: ["name"], start: 1, end: 5, rest: false },
      { fieldPath: ["page"], start: 6, end: 7, rest: false },
    ]);
    expect(template.verb).toBe("undelete");
  });

  it("reads {field} as {field=*}, dotted field paths, and {field=**} as taking the rest", () => {
    expect(parsePathTemplate("/a/{b.c}").variables).toEqual([
      { fieldPath: ["b", "c"], start: 1, end: 2, rest: false },
    ]);
    expect(parsePathTemplate("/files/{path=**}").variables).toEqual([
      { fieldPath: ["path"], start: 1, end: 2, rest: true },
    ]);
    expect(parsePathTemplate("/auth/status").verb).toBeUndefined();
  });

  it("decodes percent-escapes in literals", () => {
    expect(parsePathTemplate("/a%20b").segments).toEqual([{ kind: "literal", value: "a b" }]);
  });

  it.each([
    ["no leading slash", "auth/status"],
    ["an empty segment", "/auth//status"],
    ["a trailing slash", "/auth/status/"],
    ["** before the end", "/a/**/b"],
    ["a nested variable", "/a/{b={c}}"],
    ["an unclosed variable", "/a/{b"],
    ["an unmatched brace", "/a/b}"],
    ["a variable that names no field", "/a/{1b}"],
    ["a field bound twice", "/a/{b}/{b}"],
    ["a bad verb", "/a:"],
    ["a colon inside a segment", "/a:b/c"],
    ["a character outside pchar", "/a b"],
    ["a query", "/a?b=c"],
  ])("refuses %s", (_what, source) => {
    expect(() => parsePathTemplate(source)).toThrow(PathTemplateError);
  });
});
