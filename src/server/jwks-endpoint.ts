import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

/** Where verifiers find the public keys of access tokens. */
export const JWKS_PATH = "/.well-known/jwks.json";

/**
 * Serves the public JWK Set `jwks` at `GET /.well-known/jwks.json` (and HEAD): cacheable for ten
 * minutes and readable from any origin, since it holds only public keys. Other methods get 405;
 * other paths go to `next` (404 by default).
 */
export function createJwksHandler(jwks: object, next: NodeHandler = respondNotFound): NodeHandler {
  const body = JSON.stringify(jwks);
  return (req, res) => {
    if (req.url?.split("?", 1)[0] !== JWKS_PATH) {
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
        "content-type": "application/jwk-set+json",
        "cache-control": "public, max-age=600",
        "access-control-allow-origin": "*",
      },
      body,
    );
  };
}
