import type { NodeHandler } from "./http-surface.js";

type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

/**
 * For resources that are only read (probes, metrics, the login page): answers 405 with
 * `Allow: GET, HEAD` unless the request is GET or HEAD. Returns whether the request may go on.
 */
export function allowOnlyGetAndHead(req: Request, res: Response): boolean {
  if (req.method === "GET" || req.method === "HEAD") {
    return true;
  }
  res.writeHead(405, { allow: "GET, HEAD" });
  res.end();
  return false;
}

/** Sends a whole response with its content-length; a HEAD request gets the headers only. */
export function sendWhole(
  req: Request,
  res: Response,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
  if (req.method === "HEAD") {
    res.end();
  } else {
    res.end(body);
  }
}
