import { once } from "node:events";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";

/** Closes a server's connections gracefully; see trackConnections. */
export interface ConnectionDrain {
  /** Counts `socket`, one of the listening server's connections, until it closes. */
  add(socket: net.Socket): void;
  /**
   * Lets requests in flight finish for up to `graceMs`, then cuts whatever is left. Resolves
   * when `serverClosed` (the listening server stopped accepting) has and every connection is
   * closed and its requests have heard so.
   */
  drain(graceMs: number, serverClosed: Promise<void>): Promise<void>;
}

/**
 * Tracks the connections `h1` and `h2` are fed so that they can be drained at shutdown: node
 * tracks connections only for servers that listen themselves, and ours are fed sockets, so
 * closeIdleConnections() would find none. Once draining, idle HTTP/1.1 connections are closed,
 * busy ones close after their response, and HTTP/2 sessions (new ones too) close gracefully.
 */
export function trackConnections(h1: http.Server, h2: http2.Http2Server): ConnectionDrain {
  const sockets = new Set<net.Socket>();
  const h2Sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 connections and the response each one is busy with.
  const h1Sockets = new Set<net.Socket>();
  const h1Busy = new Map<net.Socket, http.ServerResponse>();
  let draining = false;

  h2.on("session", (h2Session) => {
    h2Sessions.add(h2Session);
    h2Session.once("close", () => h2Sessions.delete(h2Session));
    if (draining) {
      h2Session.close();
    }
  });
  h1.on("connection", (socket: net.Socket) => {
    h1Sockets.add(socket);
    socket.once("close", () => h1Sockets.delete(socket));
  });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1Busy.set(socket, res);
    res.shouldKeepAlive &&= !draining;
    res.once("finish", () => {
      h1Busy.delete(socket);
      if (draining) {
        socket.end();
      }
    });
    res.once("close", () => h1Busy.delete(socket));
  });

  return {
    add(socket) {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    },
    drain(graceMs, serverClosed) {
      draining = true;
      for (const h2Session of h2Sessions) {
        h2Session.close();
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
        await Promise.all(
          [...sockets, ...h2Sessions].map((connection) => once(connection, "close")),
        );
      };
      return serverClosed.then(connectionsClosed).finally(() => clearTimeout(deadline));
    },
  };
}
