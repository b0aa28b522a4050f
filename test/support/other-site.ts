import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** A page on another origin than the service's, for CORS seen from a real browser. */
export interface OtherSite {
  /** Its port on 127.0.0.1: the origin to list in CORS_ORIGINS is http://127.0.0.1:<port>. */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `html` at every path of a new HTTP server on 127.0.0.1, port 0. */
export async function serveOtherSite(html: string): Promise<OtherSite> {
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
