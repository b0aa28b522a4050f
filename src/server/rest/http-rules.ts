import { type DescField, type DescMethod, getOption, hasOption } from "@bufbuild/protobuf";
import { http } from "../../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../../gen/google/api/http_pb.js";
import { isSecretField } from "../../rpc/secret-fields.js";
import { type PathTemplate, PathTemplateError, parsePathTemplate } from "./http-path-template.js";
import type { RouteBinding } from "./http-route-matcher.js";

/** How one HTTP route of a method fills its request message. */
export interface HttpRulePlan {
  readonly method: DescMethod;
  readonly template: PathTemplate;
  /** The fields each template variable binds, outermost first, in the template's order. */
  readonly pathFields: readonly (readonly DescField[])[];
  /** `""`: no body; `"*"`: the body is the request message; else the field the body fills. */
  readonly body: "" | "*" | DescField;
}

/** An HTTP rule that cannot be served; the message names the method and the rule. */
export class HttpRuleError extends Error {
  override readonly name = "HttpRuleError";
}

/**
 * The HTTP routes that `methods` declare with the `google.api.http` option (each rule and its
 * `additional_bindings`). Methods without the option have none. Throws HttpRuleError, naming the
 * method, for a rule that breaks the HttpRule grammar or does not fit the request message: a
 * streaming method, a missing or malformed pattern, a path variable that names no singular scalar
 * field or names a secret (secret-fields.ts), a body that names no field or a field the path
 * binds, a GET with a body, nested `additional_bindings`, a `response_body` (not supported).
 */
export function httpRoutesOf(methods: readonly DescMethod[]): RouteBinding<HttpRulePlan>[] {
  const bindings: RouteBinding<HttpRulePlan>[] = [];
  for (const method of methods) {
    if (!hasOption(method, http)) {
      continue;
    }
    const owner = `${method.parent.typeName}.${method.name}`;
    const rule = getOption(method, http);
    const fail = (message: string): never => {
      throw new HttpRuleError(`${owner}: google.api.http ${message}`);
    };
    if (method.methodKind !== "unary") {
      fail(`on a ${method.methodKind} method: only unary methods are served over REST`);
    }
    for (const [index, each] of [rule, ...rule.additionalBindings].entries()) {
      if (index > 0 && each.additionalBindings.length > 0) {
        fail("additional_bindings must not have additional_bindings of their own");
      }
      bindings.push(bindingOf(method, owner, each, fail));
    }
  }
  return bindings;
}

function bindingOf(
  method: DescMethod,
  owner: string,
  rule: HttpRule,
  fail: (message: string) => never,
): RouteBinding<HttpRulePlan> {
  const { httpMethod, path } = patternOf(rule, fail);
  let template: PathTemplate;
  try {
    template = parsePathTemplate(path);
  } catch (error) {
    if (error instanceof PathTemplateError) {
      fail(error.message);
    }
    throw error;
  }
  const where = `${httpMethod} ${path}`;
  const pathFields = template.variables.map((variable) => {
    const fields = resolveFieldPath(method, variable.fieldPath, (message) =>
      fail(`${where}: ${message}`),
    );
    const leaf = fields.at(-1) as DescField;
    if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum") {
      fail(`${where}: path variable ${leaf.name} must be a singular scalar or enum field`);
    }
    if (isSecretField(leaf.name)) {
      fail(`${where}: ${leaf.name} carries a secret and must not be part of a URL`);
    }
    return fields;
  });
  if (rule.responseBody !== "") {
    fail(`${where}: response_body is not supported; the response is the whole message`);
  }
  let body: HttpRulePlan["body"];
  if (rule.body === "" || rule.body === "*") {
    body = rule.body;
  } else {
    const field = method.input.fields.find((each) => each.name === rule.body);
    if (field === undefined) {
      return fail(
        `${where}: body ${JSON.stringify(rule.body)} names no field of ${method.input.typeName}`,
      );
    }
    // A path may bind a field inside the body's (AIP-134 `{book.name=…}` with body "book").
    if (pathFields.some((fields) => fields.length === 1 && fields[0] === field)) {
      fail(`${where}: body ${field.name} is also bound by the path`);
    }
    body = field;
  }
  if (httpMethod === "GET" && body !== "") {
    fail(`${where}: a GET route cannot take a body`);
  }
  return { httpMethod, template, target: { method, template, pathFields, body }, owner };
}

function patternOf(
  rule: HttpRule,
  fail: (message: string) => never,
): { httpMethod: string; path: string } {
  const { pattern } = rule;
  switch (pattern.case) {
    case undefined:
      return fail("rule has no pattern (get, put, post, delete, patch or custom)");
    case "custom":
      if (!/^[A-Z][A-Z-]*$/.test(pattern.value.kind)) {
        fail(`custom kind ${JSON.stringify(pattern.value.kind)} is not an HTTP method`);
      }
      return { httpMethod: pattern.value.kind, path: pattern.value.path };
    default:
      return { httpMethod: pattern.case.toUpperCase(), path: pattern.value };
  }
}

/**
 * The fields `names` (proto names, outermost first) lead to in `method`'s request, through
 * singular message fields only.
 */
function resolveFieldPath(
  method: DescMethod,
  names: readonly string[],
  fail: (message: string) => never,
): DescField[] {
  const fields: DescField[] = [];
  let message = method.input;
  for (const [index, name] of names.entries()) {
    const field = message.fields.find((each) => each.name === name);
    if (field === undefined) {
      return fail(`${names.join(".")} names no field of ${method.input.typeName}`);
    }
    fields.push(field);
    if (index < names.length - 1) {
      if (field.fieldKind !== "message") {
        fail(`${names.join(".")}: ${name} is not a message field`);
      }
      message = field.message as NonNullable<typeof field.message>;
    }
  }
  return fields;
}
