import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

/** Where REST clients find the OpenAPI document of the REST routes. */
export const OPENAPI_PATH = "/openapi.json";

/**
 * Serves `text`, the OpenAPI document of the REST routes (rest/openapi/), at `GET /openapi.json`
 * (and HEAD): cacheable for ten minutes (it changes only with a deploy) and readable from any
 * origin, so that tools in a browser can load it. Other methods get 405; other paths go to `next`
 * (404 by default).
 */
export function createOpenApiHandler(
  text: string,
  next: NodeHandler = respondNotFound,
): NodeHandler {
  return (req, res) => {
    if (req.url?.split("?", 1)[0] !== OPENAPI_PATH) {
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
        "content-type": "application/json",
        "cache-control": "public, max-age=600",
        "access-control-allow-origin": "*",
      },
      text,
    );
  };
}
