import { create, type DescMethod, type MessageInitShape, setExtension } from "@bufbuild/protobuf";
import { MethodOptionsSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { http } from "../../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../gen/google/api/http_pb.js";
import { Health } from "../../gen/health/v1/health_pb.js";
import { HttpRuleError, httpRoutesOf } from "../../src/server/rest/http-rules.js";

/** `method` as if its .proto carried `rule` as its google.api.http option. */
function annotated(method: DescMethod, rule: MessageInitShape<typeof HttpRuleSchema>): DescMethod {
  const options = create(MethodOptionsSchema);
  setExtension(options, http, create(HttpRuleSchema, rule));
  return { ...method, proto: { ...method.proto, options } } as DescMethod;
}

const { getStatus, requestOtp } = AuthService.method;

describe("reading google.api.http rules from descriptors", () => {
  it("reads AuthService's routes from auth.proto, additional bindings included", () => {
    const routes = httpRoutesOf(AuthService.methods).map(
      (route) => `${route.owner} ${route.httpMethod} ${route.template.source}`,
    );
    expect(routes).toEqual([
      "auth.v1.AuthService.RequestOtp POST /auth/request-otp",
      "auth.v1.AuthService.VerifyOtp POST /auth/verify-otp",
      "auth.v1.AuthService.GetStatus GET /auth/status",
      "auth.v1.AuthService.GetStatus POST /auth/status",
      "auth.v1.AuthService.SignOut POST /auth/sign-out",
      "auth.v1.AuthService.ListSessions POST /auth/sessions",
    ]);
  });

  it("skips methods without the option", () => {
    expect(httpRoutesOf(Health.methods)).toEqual([]);
  });

  it.each([
    ["no pattern", getStatus, {}, /has no pattern/],
    ["a bad template", getStatus, { pattern: { case: "get", value: "/a/**/b" } }, /"\*\*" must be/],
    [
      "a variable naming no field",
      getStatus,
      { pattern: { case: "get", value: "/s/{nope}" } },
      /nope names no field/,
    ],
    [
      "a variable through a scalar",
      getStatus,
      { pattern: { case: "get", value: "/s/{email.x}" } },
      /not a message field/,
    ],
    [
      "a GET with a body",
      getStatus,
      { pattern: { case: "get", value: "/s" }, body: "*" },
      /cannot take a body/,
    ],
    [
      "a body bound by the path",
      requestOtp,
      { pattern: { case: "post", value: "/r/{email}" }, body: "email" },
      /also bound by the path/,
    ],
    [
      "a response_body",
      getStatus,
      { pattern: { case: "get", value: "/s" }, responseBody: "authenticated" },
      /response_body/,
    ],
    [
      "a custom kind that is no method",
      getStatus,
      { pattern: { case: "custom", value: { kind: "get it", path: "/s" } } },
      /not an HTTP method/,
    ],
    [
      "nested additional bindings",
      getStatus,
      {
        pattern: { case: "get", value: "/s" },
        additionalBindings: [
          create(HttpRuleSchema, {
            pattern: { case: "post", value: "/s" },
            additionalBindings: [create(HttpRuleSchema, { pattern: { case: "put", value: "/s" } })],
          }),
        ],
      },
      /must not have additional_bindings/,
    ],
  ] as const)("refuses %s, naming the method", (_what, method, rule, message) => {
    const read = () =>
      httpRoutesOf([annotated(method, rule as MessageInitShape<typeof HttpRuleSchema>)]);
    expect(read).toThrow(HttpRuleError);
    expect(read).toThrow(/^auth\.v1\.AuthService\.\w+: google\.api\.http/);
    expect(read).toThrow(message);
  });

  it("refuses a secret field in a path: a URL ends up in logs", () => {
    // session_token is on the secret list even before a request message has it.
    expect(() =>
      httpRoutesOf([
        annotated(getStatus, { pattern: { case: "get", value: "/s/{session_token}" } }),
      ]),
    ).toThrow(/names no field|carries a secret/);
  });

  it("refuses a streaming method", () => {
    expect(() =>
      httpRoutesOf([annotated(Health.method.watch, { pattern: { case: "get", value: "/w" } })]),
    ).toThrow(/grpc\.health\.v1\.Health\.Watch: .*only unary/);
  });
});
