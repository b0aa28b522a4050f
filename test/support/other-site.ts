import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestServer, type TestServer } from "./test-server.js";

/** A page on another origin than the service's, for CORS seen from a real browser. */
export interface OtherSite {
  /** Its port on 127.0.0.1: the origin to list in CORS_ORIGINS is http://127.0.0.1:<port>. */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `html` at every path of a new HTTP server on 127.0.0.1, port 0. */
async function serveOtherSite(html: string): Promise<OtherSite> {
  const site = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  return {
    port: (site.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => site.close(() => resolve())),
  };
}

/** A test server that lists another site's origin in CORS_ORIGINS, and that site. */
export interface CrossOrigin {
  readonly site: OtherSite;
  readonly server: TestServer;
  close(): Promise<void>;
}

/**
 * Serves `html` as another site (serveOtherSite) and starts a test server with `env` whose
 * CORS_ORIGINS is that site's origin, http://127.0.0.1:<port>.
 */
export async function serveAcrossOrigins(
  html: string,
  env: Record<string, string> = {},
): Promise<CrossOrigin> {
  const site = await serveOtherSite(html);
  try {
    const server = await startTestServer({ CORS_ORIGINS: `http://127.0.0.1:${site.port}`, ...env });
    return {
      site,
      server,
      async close() {
        await server.close();
        await site.close();
      },
    };
  } catch (error) {
    await site.close();
    throw error;
  }
}
