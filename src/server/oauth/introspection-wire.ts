import type { JsonObject } from "@bufbuild/protobuf";
import type { IntrospectTokenResponse } from "../../../gen/auth/v1/auth_pb.js";
import type { Rejection } from "../../rpc/error-mapping.js";
import {
  invalidParameter,
  undecodableBody,
  unsupportedContentType,
} from "../../rpc/framework-refusals.js";
import { httpStatusOf } from "../http-status.js";

/**
 * RFC 7662 introspection on the wire: the form body read into IntrospectToken's request, and the
 * response and refusals written as RFC 7662 and RFC 6749/6750 have them. Only the wire: every
 * rule is the pipeline's and the domain's.
 */

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;\s*charset="?utf-8"?\s*)?$/i;
// RFC 6749 3.2: form parameters are UTF-8; invalid bytes make the body undecodable.
const utf8 = new TextDecoder("utf-8", { fatal: true });
// The parameters read; RFC 6749 3.2 says any other is ignored, and none may be sent twice.
const PARAMETERS = ["token", "token_type_hint"] as const;

/**
 * An `application/x-www-form-urlencoded` body (UTF-8) as IntrospectToken's request: `token` and
 * `token_type_hint`. Another content type is unsupported_content_type; bytes that are not UTF-8
 * are undecodable_body; a parameter sent twice is invalid_parameter naming it.
 */
export function introspectionRequestOf(
  contentType: string | null,
  body: Uint8Array,
): { token: string; tokenTypeHint: string } {
  if (contentType === null || !FORM_TYPE.test(contentType.trim())) {
    throw unsupportedContentType(contentType, "the form as application/x-www-form-urlencoded");
  }
  let form: URLSearchParams;
  try {
    form = new URLSearchParams(utf8.decode(body));
  } catch (error) {
    throw undecodableBody(error);
  }
  for (const name of PARAMETERS) {
    if (form.getAll(name).length > 1) {
      throw invalidParameter(name, `${name} was sent more than once`);
    }
  }
  return { token: form.get("token") ?? "", tokenTypeHint: form.get("token_type_hint") ?? "" };
}

/** RFC 7662's answer to a request it served: 200 JSON. */
export interface IntrospectionAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: JsonObject;
}

// `Cache-Control: no-store` (it describes a bearer secret) and `nosniff` come from the HTTP
// surface, which gives them to every answer to a POST on an API route.
const ANSWER_HEADERS = { "content-type": "application/json" };

/**
 * IntrospectToken's response in RFC 7662's members: `{"active": false}` and nothing more, or
 * `active`, `sub`, `sid`, `exp`, `iat` (whole seconds), `iss`, `aud`, `client_id`, `token_type`
 * and `email`, or `ext` for an account named by external id (as the access token names it).
 */
export function introspectionAnswer(response: IntrospectTokenResponse): IntrospectionAnswer {
  if (!response.active) {
    return { status: 200, headers: ANSWER_HEADERS, body: { active: false } };
  }
  const account: JsonObject =
    response.externalId === "" ? { email: response.email } : { ext: response.externalId };
  return {
    status: 200,
    headers: ANSWER_HEADERS,
    body: {
      active: true,
      sub: response.userId,
      sid: response.sessionId,
      exp: Number(response.expiresAt?.seconds ?? 0n),
      iat: Number(response.issuedAt?.seconds ?? 0n),
      iss: response.issuer,
      aud: response.audience,
      client_id: response.clientId,
      token_type: response.tokenType,
      ...account,
    },
  };
}

// RFC 6749 5.2's error codes for the refusals that have one; the rest use their reason.
const ERROR_OF: Readonly<Record<string, string>> = {
  INVALID_ARGUMENT: "invalid_request",
  MESSAGE_TOO_LARGE: "invalid_request",
  METHOD_NOT_ALLOWED: "invalid_request",
  STORAGE_UNAVAILABLE: "temporarily_unavailable",
};

/**
 * A refusal as an OAuth endpoint answers it: `{"error", "error_description"}` (RFC 6749 5.2) under
 * the status REST gives the same refusal. A caller without a valid service token gets RFC 6750's
 * 401 with `WWW-Authenticate: Bearer`, naming `invalid_token` when it presented one (`presented`);
 * `Allow` and `Retry-After` as the rejection's metadata says.
 */
export function introspectionRefusal(
  rejection: Rejection,
  presented: boolean,
): IntrospectionAnswer {
  const headers: Record<string, string> = { ...rejection.metadata, ...ANSWER_HEADERS };
  if (rejection.reason === "CALLER_UNAUTHENTICATED") {
    // RFC 6750 3.1: a request that sent no credentials is told only the scheme.
    headers["www-authenticate"] = presented ? 'Bearer error="invalid_token"' : "Bearer";
    return {
      status: 401,
      headers,
      body: { error: "invalid_token", error_description: rejection.message },
    };
  }
  const status = httpStatusOf(rejection);
  const error =
    (rejection.reason === undefined ? undefined : ERROR_OF[rejection.reason]) ??
    (status >= 500 ? "server_error" : (rejection.reason ?? "invalid_request").toLowerCase());
  return { status, headers, body: { error, error_description: rejection.message } };
}
