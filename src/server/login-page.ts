import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { allowOnlyGetAndHead, sendWhole } from "./http-response.js";
import { type NodeHandler, respondNotFound } from "./http-surface.js";

/** Where `npm run build:web` writes the login page (dist/web/ at the package root). */
export const WEB_BUILD_DIR = join(packageRoot(fileURLToPath(import.meta.url)), "dist", "web");

/** The nearest directory above `file` holding a package.json: the same from src/ and dist/src/. */
function packageRoot(file: string): string {
  let dir = dirname(file);
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) {
    dir = dirname(dir);
  }
  return dir;
}

// Two files with fixed names: a map from URL path to file leaves no path to traverse, which is
// why no static-file library is used.
const ASSETS: ReadonlyMap<string, { file: string; type: string }> = new Map([
  ["/", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/login.js", { file: "login.js", type: "text/javascript; charset=utf-8" }],
]);

// The page talks only to its own origin and runs only its own script.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  "style-src 'unsafe-inline'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const NOT_BUILT =
  "The login page has not been built. Run `npm run build:web` (npm start and npm test run it).\n";

/**
 * Serves the login page built into `dir` (index.html and login.js) at `/` and `/login.js`, for
 * GET and HEAD (other methods get 405). Files are read on each request, so a rebuild shows at
 * once. If the page has not been built, the answer is a 404 saying how to build it; other paths
 * go to `next` (404 by default).
 */
export function createLoginPageHandler(
  dir: string = WEB_BUILD_DIR,
  next: NodeHandler = respondNotFound,
): NodeHandler {
  return (req, res) => {
    const asset = ASSETS.get(req.url?.split("?", 1)[0] ?? "");
    if (asset === undefined) {
      next(req, res);
      return;
    }
    if (!allowOnlyGetAndHead(req, res)) {
      return;
    }
    const send = (status: number, headers: Record<string, string>, body: Buffer) =>
      sendWhole(req, res, status, headers, body);
    readFile(join(dir, asset.file)).then(
      (body) =>
        send(
          200,
          {
            "content-type": asset.type,
            // Revalidate each time: the file names carry no version, so a rebuild would go unseen.
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "referrer-policy": "no-referrer",
          },
          body,
        ),
      () =>
        send(
          404,
          { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
          Buffer.from(NOT_BUILT),
        ),
    );
  };
}
