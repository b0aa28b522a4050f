import type * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";

/**
 * What one connection may take from the server. Our http and http2 servers are fed sockets rather
 * than listening, so node's own headersTimeout and requestTimeout checks never run: these are
 * enforced here instead.
 */
export interface ConnectionLimits {
  /**
   * Connections the listener holds at once (MAX_CONNECTIONS); one more is closed as it arrives, so
   * that a flood of connections cannot exhaust the process's file descriptors and memory.
   */
  readonly maxConnections: number;
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
  maxConnections: 10_000,
  idleMs: 10_000,
  requestReceiveMs: 30_000,
  http2MaxConcurrentStreams: 100,
  http2MaxSessionMemoryMb: 10,
};

/** The options an HTTP/2 server needs to hold its sessions to `limits`. */
export function http2ServerOptions(limits: ConnectionLimits): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams },
    maxSessionMemory: limits.http2MaxSessionMemoryMb,
  };
}

/**
 * Holds the connections `h1` and `h2` are fed to `limits`: idle connections and sessions are
 * closed, and a request that has not arrived in full in time is cut (slowloris).
 */
export function enforceConnectionLimits(
  h1: http.Server,
  h2: http2.Http2Server,
  limits: ConnectionLimits,
): void {
  // node closes a kept-alive HTTP/1.1 connection idle this long after a response, fed or not.
  h1.keepAliveTimeout = limits.idleMs;
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

  h2.on("session", (h2Session) => {
    // Graceful: streams still open finish first.
    h2Session.setTimeout(limits.idleMs, () => h2Session.close());
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
    setH1Deadline(socket, limits.requestReceiveMs);
    socket.once("close", () => setH1Deadline(socket, undefined));
  });
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    // The handler's own time is not limited here, only the client's sending.
    req.once("end", () => {
      // After the response, the deadline is already the next request's.
      if (!res.writableEnded) {
        setH1Deadline(socket, undefined);
      }
    });
    res.once("finish", () => setH1Deadline(socket, limits.idleMs + limits.requestReceiveMs));
  });
}
