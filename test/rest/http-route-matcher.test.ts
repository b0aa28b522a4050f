import { describe, expect, it } from "vitest";
import { parsePathTemplate } from "../../src/server/rest/http-path-template.js";
import {
  createRouteMatcher,
  decodeVariable,
  type RouteBinding,
  RouteConflictError,
} from "../../src/server/rest/http-route-matcher.js";

function binding(httpMethod: string, path: string, target = `${httpMethod} ${path}`) {
  return { httpMethod, template: parsePathTemplate(path), target, owner: target };
}

function matcherOf(...bindings: RouteBinding<string>[]) {
  const matcher = createRouteMatcher(bindings);
  return (method: string, path: string) => {
    const match = matcher.match(method, path);
    return match.kind === "found" ? { target: match.binding.target, raw: match.raw } : match;
  };
}

describe("matching a request to a route", () => {
  it("finds literal routes by method and path; HEAD is served as GET", () => {
    const match = matcherOf(
      binding("GET", "/auth/status"),
      binding("POST", "/auth/status", "post"),
    );
    expect(match("GET", "/auth/status")).toEqual({ target: "GET /auth/status", raw: [] });
    expect(match("HEAD", "/auth/status")).toEqual({ target: "GET /auth/status", raw: [] });
    expect(match("POST", "/auth/status")).toEqual({ target: "post", raw: [] });
  });

  it("answers 405-style for a known path with another method, listing the allowed ones", () => {
    const match = matcherOf(binding("GET", "/auth/status"), binding("POST", "/auth/status"));
    expect(match("DELETE", "/auth/status")).toEqual({
      kind: "method_not_allowed",
      allowed: ["GET", "HEAD", "OPTIONS", "POST"],
    });
    expect(match("GET", "/auth/other")).toEqual({ kind: "not_found" });
  });

  it("lets literal segments win over variables, and variables over **", () => {
    const match = matcherOf(
      binding("GET", "/v1/{name=**}", "rest"),
      binding("GET", "/v1/books/{id}", "book"),
      binding("GET", "/v1/books/special", "special"),
      binding("GET", "/v1/{kind}/special", "kind-special"),
    );
    expect(match("GET", "/v1/books/special")).toMatchObject({ target: "special" });
    expect(match("GET", "/v1/books/42")).toMatchObject({ target: "book", raw: ["42"] });
    expect(match("GET", "/v1/films/special")).toMatchObject({ target: "kind-special" });
    expect(match("GET", "/v1/a/b/c")).toMatchObject({ target: "rest", raw: ["a/b/c"] });
  });

  it("matches a custom verb only when the path ends in it, and prefers it", () => {
    const match = matcherOf(
      binding("POST", "/v1/{name}", "plain"),
      binding("POST", "/v1/{name}:cancel", "cancel"),
    );
    expect(match("POST", "/v1/job1:cancel")).toMatchObject({ target: "cancel", raw: ["job1"] });
    expect(match("POST", "/v1/job1")).toMatchObject({ target: "plain", raw: ["job1"] });
    expect(match("POST", "/v1/job1:other")).toMatchObject({ target: "plain", raw: ["job1:other"] });
  });

  it("matches no empty segment: a trailing slash or // is not found", () => {
    const match = matcherOf(binding("GET", "/auth/status"), binding("GET", "/v1/{x}"));
    expect(match("GET", "/auth/status/")).toEqual({ kind: "not_found" });
    expect(match("GET", "//auth/status")).toEqual({ kind: "not_found" });
    expect(match("GET", "/v1/")).toEqual({ kind: "not_found" });
    expect(match("GET", "auth/status")).toEqual({ kind: "not_found" });
  });

  it("compares literals decoded: /auth/stat%75s is /auth/status", () => {
    expect(matcherOf(binding("GET", "/auth/status"))("GET", "/auth/stat%75s")).toMatchObject({
      target: "GET /auth/status",
    });
  });

  it("decodes a one-segment variable fully, and keeps %2F in a ** variable", () => {
    expect(decodeVariable("a%2Fb%40c", false)).toBe("a/b@c");
    expect(decodeVariable("a/b%2Fc%20d", true)).toBe("a/b%2Fc d");
    expect(() => decodeVariable("%E0%A4%A", false)).toThrow(URIError);
  });

  it.each([
    ["the same template", "/v1/{a}", "/v1/{a}"],
    ["templates of the same shape", "/v1/{a}", "/v1/{b=*}"],
    ["the same literals and verb", "/v1/x:go", "/v1/x:go"],
  ])("refuses two routes with %s for one method, naming both owners", (_what, first, second) => {
    expect(() =>
      createRouteMatcher([
        binding("GET", first, "pkg.Svc.First"),
        binding("GET", second, "pkg.Svc.Second"),
      ]),
    ).toThrow(/pkg\.Svc\.Second.*conflicts with pkg\.Svc\.First/);
    expect(() => createRouteMatcher([binding("GET", first), binding("POST", second)])).not.toThrow(
      RouteConflictError,
    );
  });
});
