// Callers for the load generator: unary gRPC over raw node:http2 (h2c, prior knowledge), and
// Connect JSON and REST over node:http keep-alive (HTTP/1.1). Hand-framed rather than a full RPC client so
// that the generator spends as little CPU per call as possible: it shares two cores with the
// server, and every cycle it burns is one the server does not get.

import * as http from "node:http";
import * as http2 from "node:http2";

/** One unary call: resolves with the response message (binary for gRPC, parsed JSON for Connect). */
export type GrpcCall = (path: string, message: Uint8Array) => Promise<Buffer>;
export type ConnectCall = (path: string, body: unknown) => Promise<Record<string, unknown>>;
/** One HTTP/1.1 JSON request: POST with `body`, or a bodiless GET; resolves with parsed JSON. */
export type JsonCall = (
  method: "GET" | "POST",
  path: string,
  body?: unknown,
) => Promise<Record<string, unknown>>;

export interface Caller<T> {
  readonly call: T;
  close(): void;
}

/**
 * A gRPC caller spreading calls round-robin over `sessions` HTTP/2 connections to 127.0.0.1. A
 * connection the server closed (idle for longer than its limit between measurements) is opened
 * again on the next call.
 */
export function createGrpcCaller(port: number, sessions: number): Caller<GrpcCall> {
  const connect = () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    return session;
  };
  const pool = Array.from({ length: sessions }, connect);
  let next = 0;
  const call: GrpcCall = (path, message) =>
    new Promise((resolve, reject) => {
      const index = next++ % pool.length;
      let session = pool[index] as http2.ClientHttp2Session;
      if (session.closed || session.destroyed) {
        session = connect();
        pool[index] = session;
      }
      const stream = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc+proto",
        te: "trailers",
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      stream.on("response", (headers) => {
        // A trailers-only answer (errors) carries grpc-status in the headers.
        status ??= headers["grpc-status"] as string | undefined;
      });
      stream.on("trailers", (trailers) => {
        status = trailers["grpc-status"] as string | undefined;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", reject);
      stream.on("close", () => {
        if (status !== "0") {
          reject(new Error(`${path}: grpc-status ${status}`));
          return;
        }
        // One length-prefixed, uncompressed message: skip the 5-byte frame header.
        resolve(Buffer.concat(chunks).subarray(5));
      });
      const frame = Buffer.allocUnsafe(5 + message.length);
      frame.writeUInt8(0, 0);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.end(frame);
    });
  return {
    call,
    close() {
      for (const session of pool) {
        session.close();
      }
    },
  };
}

/** A Connect JSON caller over HTTP/1.1 with up to `sockets` keep-alive connections. */
export function createConnectCaller(port: number, sockets: number): Caller<ConnectCall> {
  const { call, close } = createJsonCaller(port, sockets);
  return { call: (path, body) => call("POST", path, body), close };
}

/**
 * A JSON caller over HTTP/1.1 with up to `sockets` keep-alive connections: Connect JSON's
 * requests, and REST's (GET with the input in the query, or POST with a JSON body).
 */
export function createJsonCaller(port: number, sockets: number): Caller<JsonCall> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const call: JsonCall = (method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = method === "POST" ? JSON.stringify(body) : undefined;
      const req = http.request(
        {
          agent,
          host: "127.0.0.1",
          port,
          path,
          method,
          headers:
            payload === undefined
              ? {}
              : {
                  "content-type": "application/json",
                  "content-length": Buffer.byteLength(payload),
                },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) {
              reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text}`));
              return;
            }
            resolve(JSON.parse(text) as Record<string, unknown>);
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  return { call, close: () => agent.destroy() };
}
