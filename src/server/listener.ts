import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { NodeHandler } from "./node-handler.js";

/** A listening server; `close` stops it gracefully. */
export interface Listener {
  readonly port: number;
  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then cuts
   * whatever is left. Resolves when every connection is closed and its requests have heard so.
   */
  close(graceMs: number): Promise<void>;
}

// Every HTTP/2 connection starts with this preface; nothing in HTTP/1.1 does.
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
// A connection that sends nothing at all is dropped after this long.
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * Serves `handler` on one port for HTTP/1.1 and HTTP/2 without TLS (h2c with prior knowledge),
 * so gRPC, gRPC-Web, Connect, curl and browsers share it. Each connection's first bytes decide
 * which server gets it.
 */
export async function listen(
  handler: NodeHandler,
  options: { port: number; host: string },
): Promise<Listener> {
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 connections and the response each one is busy with. node tracks connections only
  // for servers that listen themselves, and ours is fed sockets, so closeIdleConnections() would
  // find none: graceful shutdown is done here.
  const h1Sockets = new Set<net.Socket>();
  const h1Busy = new Map<net.Socket, http.ServerResponse>();
  let closing = false;

  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) {
      session.close();
    }
  });
  h1.on("connection", (socket: net.Socket) => {
    h1Sockets.add(socket);
    socket.once("close", () => h1Sockets.delete(socket));
  });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1Busy.set(socket, res);
    res.shouldKeepAlive &&= !closing;
    res.once("finish", () => {
      h1Busy.delete(socket);
      if (closing) {
        socket.end();
      }
    });
    res.once("close", () => h1Busy.delete(socket));
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    sniff(socket, (isHttp2) => {
      if (isHttp2) {
        // node's HTTP/2 session reads what was put back itself; resuming here would lose it.
        h2.emit("connection", socket);
      } else {
        // node's HTTP/1 parser reads the socket's handle directly and only sees the bytes put
        // back once the stream flows again.
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });

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
      closing = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) {
        session.close();
      }
      for (const socket of h1Sockets) {
        const res = h1Busy.get(socket);
        if (res === undefined) {
          socket.destroy();
        } else if (!res.headersSent) {
          res.shouldKeepAlive = false;
        }
      }
      const deadline = setTimeout(() => {
        for (const socket of sockets) {
          socket.destroy();
        }
      }, graceMs);
      // The server reports closed once its sockets are destroyed, a little before their "close"
      // events tell the requests on them that they were cut (which they log); wait for those too.
      // Whatever is still in these sets has not emitted "close" yet.
      const connectionsClosed = async () => {
        await Promise.all([...sockets, ...sessions].map((connection) => once(connection, "close")));
      };
      return closed.then(connectionsClosed).finally(() => clearTimeout(deadline));
    },
  };
}

/**
 * Reads until the first bytes tell HTTP/2 from HTTP/1.x, puts them back, and hands over the socket
 * paused, so the chosen server reads the connection from its first byte.
 */
function sniff(socket: net.Socket, route: (isHttp2: boolean) => void): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const decided =
      head.length >= H2_PREFACE.length || !H2_PREFACE.subarray(0, head.length).equals(head);
    if (!decided) {
      return;
    }
    socket.off("data", onData);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(head);
    route(head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE));
  };
  socket.on("data", onData);
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
  socket.once("error", () => socket.destroy());
}
