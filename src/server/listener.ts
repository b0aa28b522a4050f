import { once } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { NodeHandler } from "./http-surface.js";

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

/**
 * What one connection may take from the server. Our http and http2 servers are fed sockets rather
 * than listening, so node's own headersTimeout and requestTimeout checks never run: these are
 * enforced here instead.
 */
export interface ConnectionLimits {
  /**
   * A connection that sends nothing at all, an HTTP/1.1 connection with no request for this long
   * after its last response, and an HTTP/2 session with no frames for this long are closed.
   */
  readonly idleMs: number;
  /**
   * A request's headers and body must arrive in full within this long (slowloris), counted from
   * the connection's first bytes or, on a kept-alive HTTP/1.1 connection, from the end of its idle
   * allowance; the connection (HTTP/1.1) or stream (HTTP/2) is cut otherwise.
   */
  readonly requestReceiveMs: number;
  /** HTTP/2 streams one session may have open at once; more are refused (REFUSED_STREAM). */
  readonly http2MaxConcurrentStreams: number;
  /** Memory, in MB, one HTTP/2 session may buffer before new streams on it are refused. */
  readonly http2MaxSessionMemoryMb: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  idleMs: 10_000,
  requestReceiveMs: 30_000,
  http2MaxConcurrentStreams: 100,
  http2MaxSessionMemoryMb: 10,
};

/**
 * Serves `handler` on one port for HTTP/1.1 and HTTP/2 without TLS (h2c with prior knowledge),
 * so gRPC, gRPC-Web, Connect, curl and browsers share it. Each connection's first bytes decide
 * which server gets it.
 */
export async function listen(
  handler: NodeHandler,
  options: { port: number; host: string; limits?: Partial<ConnectionLimits> },
): Promise<Listener> {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const h1 = http.createServer(handler);
  // node closes a kept-alive HTTP/1.1 connection idle this long after a response, fed or not.
  h1.keepAliveTimeout = limits.idleMs;
  const h2 = http2.createServer(
    {
      settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams },
      maxSessionMemory: limits.http2MaxSessionMemoryMb,
    },
    handler,
  );
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  // HTTP/1.1 connections and the response each one is busy with. node tracks connections only
  // for servers that listen themselves, and ours is fed sockets, so closeIdleConnections() would
  // find none: graceful shutdown is done here.
  const h1Sockets = new Set<net.Socket>();
  const h1Busy = new Map<net.Socket, http.ServerResponse>();
  // Per HTTP/1.1 connection, the deadline by which its next request must have arrived in full.
  const h1Deadlines = new Map<net.Socket, NodeJS.Timeout>();
  const setH1Deadline = (socket: net.Socket, ms: number | undefined) => {
    clearTimeout(h1Deadlines.get(socket));
    h1Deadlines.delete(socket);
    if (ms !== undefined) {
      h1Deadlines.set(
        socket,
        setTimeout(() => socket.destroy(), ms),
      );
    }
  };
  let closing = false;

  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // Graceful: streams still open finish first.
    session.setTimeout(limits.idleMs, () => session.close());
    if (closing) {
      session.close();
    }
  });
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    const deadline = setTimeout(
      () => stream.close(http2.constants.NGHTTP2_CANCEL),
      limits.requestReceiveMs,
    );
    const received = () => clearTimeout(deadline);
    stream.once("end", received);
    stream.once("close", received);
  });
  h1.on("connection", (socket: net.Socket) => {
    h1Sockets.add(socket);
    setH1Deadline(socket, limits.requestReceiveMs);
    socket.once("close", () => {
      h1Sockets.delete(socket);
      setH1Deadline(socket, undefined);
    });
  });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1Busy.set(socket, res);
    res.shouldKeepAlive &&= !closing;
    // The handler's own time is not limited here, only the client's sending.
    req.once("end", () => {
      // After the response, the deadline is already the next request's.
      if (!res.writableEnded) {
        setH1Deadline(socket, undefined);
      }
    });
    res.once("finish", () => {
      h1Busy.delete(socket);
      if (closing) {
        socket.end();
      } else {
        setH1Deadline(socket, limits.idleMs + limits.requestReceiveMs);
      }
    });
    res.once("close", () => h1Busy.delete(socket));
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    sniff(socket, limits.idleMs, (isHttp2) => {
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
function sniff(socket: net.Socket, idleMs: number, route: (isHttp2: boolean) => void): void {
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
  socket.setTimeout(idleMs, () => socket.destroy());
  socket.once("error", () => socket.destroy());
}
