import type { AccessTokenConfig } from "../config/access-token-config.js";
import type { SigningKeySet } from "../tokens/signing-keys.js";
import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";
import { INTROSPECTION_PATH } from "./oauth/introspection-door.js";

/** Where verifiers find the public keys of access tokens. */
export const JWKS_PATH = "/.well-known/jwks.json";

/** Where REST clients find the OpenAPI document of the REST routes. */
export const OPENAPI_PATH = "/openapi.json";

/** A public document: its content type and text. */
export interface PublicDocument {
  readonly contentType: string;
  readonly body: string;
}

/**
 * Serves public documents by path, at `GET` (and HEAD): cacheable for ten minutes (they change
 * only with a deploy or a key rotation) and readable from any origin, since they hold nothing
 * secret. Other methods get 405; other paths go to `next` (404 by default).
 */
export function createPublicDocumentsHandler(
  documents: Iterable<readonly [string, PublicDocument]>,
  next: NodeHandler = respondNotFound,
): NodeHandler {
  const byPath = new Map(documents);
  return (req, res) => {
    const document = byPath.get(req.url?.split("?", 1)[0] ?? "");
    if (document === undefined) {
      next(req, res);
      return;
    }
    if (!allowOnlyGetAndHead(req, res)) {
      return;
    }
    sendWhole(
      req,
      res,
      200,
      {
        "content-type": document.contentType,
        "cache-control": "public, max-age=600",
        "access-control-allow-origin": "*",
      },
      document.body,
    );
  };
}

/**
 * What verifiers of access tokens read: `/.well-known/jwks.json`, the public keys; and with an
 * issuer URL (ACCESS_TOKEN_ISSUER), `/.well-known/oauth-authorization-server` (RFC 8414) and
 * `/.well-known/openid-configuration` (the same document, where OpenID Connect middleware
 * looks), so that a resource server configured with only the issuer URL finds the keys.
 */
export function tokenDocuments(
  keys: Pick<SigningKeySet, "keys" | "publicJwks">,
  tokens: Pick<AccessTokenConfig, "issuerUrl">,
): [string, PublicDocument][] {
  const documents: [string, PublicDocument][] = [
    [JWKS_PATH, { contentType: "application/jwk-set+json", body: JSON.stringify(keys.publicJwks) }],
  ];
  if (tokens.issuerUrl !== null) {
    const body = JSON.stringify(authorizationServerMetadata(tokens.issuerUrl, keys));
    for (const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
    ]) {
      documents.push([path, { contentType: "application/json", body }]);
    }
  }
  return documents;
}

/**
 * RFC 8414 metadata, with honest values: this service issues access tokens after an OTP login
 * through its own API, not through OAuth's /authorize and /token, so it names no such endpoints
 * and supports no response or grant types; it publishes its keys and its introspection endpoint.
 */
function authorizationServerMetadata(
  issuer: string,
  keys: Pick<SigningKeySet, "keys">,
): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    introspection_endpoint: `${issuer}${INTROSPECTION_PATH}`,
    // RFC 7662 lets the protected resource authenticate with a bearer token: a SERVICE_TOKENS one.
    introspection_endpoint_auth_methods_supported: ["bearer"],
    // REQUIRED by RFC 8414: no OAuth flow ends in a response type here.
    response_types_supported: [],
    grant_types_supported: [],
    // REQUIRED by OpenID Connect discovery, which reads the same document: `sub` is the same
    // user id for every client.
    subject_types_supported: ["public"],
    // The algorithms the published keys sign access tokens with (RFC 9068 `at+jwt`).
    access_token_signing_alg_values_supported: [...new Set(keys.keys.map((key) => key.alg))],
  };
}
