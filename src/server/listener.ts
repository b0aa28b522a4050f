import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import {
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  enforceConnectionLimits,
  http2ServerOptions,
} from "./connection-limits.js";
import { sniffHttpVersion } from "./connection-sniffing.js";
import { trackConnections } from "./graceful-shutdown.js";
import type { NodeHandler } from "./http-surface.js";
import type { TlsKeyPair } from "./tls.js";

/** A listening server; `close` stops it gracefully. */
export interface Listener {
  readonly port: number;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then cuts
   * whatever is left. Resolves when every connection is closed and its requests have heard so.
   */
  close(graceMs: number): Promise<void>;
  /**
   * Serves connections made from now on with `pair` (a renewed certificate); connections already
   * open keep theirs. Only for a listener started with TLS.
   */
  setTlsKeyPair(pair: TlsKeyPair): void;
}

// What a TLS client may ask for by ALPN: browsers get HTTP/2, gRPC clients ask for h2 only.
const ALPN_PROTOCOLS = ["h2", "http/1.1"];

/**
 * Serves `handler` on one port for HTTP/1.1 and HTTP/2, so gRPC, gRPC-Web, Connect, curl and
 * browsers share it. Without `tls`, HTTP/2 is h2c with prior knowledge and each connection's
 * first bytes decide which server gets it (connection-sniffing.ts); with `tls`, ALPN decides (a
 * client that offers none gets HTTP/1.1, as from any HTTPS server). Connections are held to
 * `limits` (connection-limits.ts) and drained on close (graceful-shutdown.ts).
 */
export async function listen(
  handler: NodeHandler,
  options: {
    port: number;
    host: string;
    limits?: Partial<ConnectionLimits> | undefined;
    tls?: TlsKeyPair | undefined;
  },
): Promise<Listener> {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(http2ServerOptions(limits), handler);
  enforceConnectionLimits(h1, h2, limits);
  const connections = trackConnections(h1, h2);

  const tcp =
    options.tls === undefined
      ? net.createServer((socket) => {
          sniffHttpVersion(socket, limits.idleMs, (isHttp2) => {
            if (isHttp2) {
              // node's HTTP/2 session reads what was put back itself; resuming here would lose it.
              h2.emit("connection", socket);
            } else {
              // node's HTTP/1 parser reads the socket's handle directly and only sees the bytes
              // put back once the stream flows again.
              h1.emit("connection", socket);
              socket.resume();
            }
          });
        })
      : tls.createServer(
          { ...options.tls, ALPNProtocols: ALPN_PROTOCOLS, handshakeTimeout: limits.idleMs },
          (socket) => (socket.alpnProtocol === "h2" ? h2 : h1).emit("connection", socket),
        );
  // The raw TCP connections, TLS handshakes in progress included.
  tcp.on("connection", (socket: net.Socket) => connections.add(socket));
  // node closes connections over this count as they are accepted.
  tcp.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port, options.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });

  return {
    port: (tcp.address() as net.AddressInfo).port,
    close(graceMs) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      return connections.drain(graceMs, closed);
    },
    setTlsKeyPair(pair) {
      if (!(tcp instanceof tls.Server)) {
        throw new Error("this listener serves no TLS");
      }
      tcp.setSecureContext(pair);
    },
  };
}
