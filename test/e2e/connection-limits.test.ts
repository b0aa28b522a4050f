import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthClient, type Protocol } from "../support/clients.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// The listener's per-connection limits (src/server/connection-limits.ts), shortened so that the tests wait
// for fractions of a second rather than the production values.

const IDLE_MS = 300;
const REQUEST_RECEIVE_MS = 600;
const MAX_STREAMS = 20;
/** Long enough for any limit above to have acted, short enough that node's defaults have not. */
const WELL_AFTER_MS = 2_500;
const EMAIL = "ada@example.com";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(
    { SERVICE_TOKENS: SERVICE_TOKEN },
    {
      limits: {
        idleMs: IDLE_MS,
        requestReceiveMs: REQUEST_RECEIVE_MS,
        http2MaxConcurrentStreams: MAX_STREAMS,
      },
    },
  );
});

afterAll(async () => {
  await server.close();
});

/** Opens a raw TCP connection to the server. */
async function connect(): Promise<net.Socket> {
  const socket = net.connect(server.port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, "connect");
  return socket;
}

/** Resolves with how long `socket` took to close, from now; rejects after `withinMs`. */
function closedWithin(socket: net.Socket | http2.ClientHttp2Session, withinMs: number) {
  const start = performance.now();
  return new Promise<number>((resolve, reject) => {
    if (socket.destroyed) {
      resolve(0);
      return;
    }
    const timer = setTimeout(() => reject(new Error(`still open after ${withinMs} ms`)), withinMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - start);
    });
  });
}

/** A normal GetStatus call over `protocol`; resolves "served". */
async function servedCall(protocol: Protocol): Promise<string> {
  const status = await createAuthClient(protocol, server.baseUrl).getStatus(
    { email: EMAIL },
    asService,
  );
  expect(status.authenticated).toBe(false);
  return "served";
}

/**
 * Whether a normal call over `protocol` is served before `attack` ends (the server cut the
 * attacking connections off): the bound is the attack itself, not a wall-clock budget that a
 * loaded machine could miss. A server stalled by the attack would serve the call only after.
 */
function servedDuring(protocol: Protocol, attack: Promise<unknown>): Promise<string> {
  return Promise.race([servedCall(protocol), attack.then(() => "only after the attack ended")]);
}

describe("idle connections", () => {
  it("500 idle kept-alive HTTP/1.1 connections do not delay other clients and are closed once idle", async () => {
    const idle = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const socket = await connect();
        socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        // The whole response has come back; from here on the connection is idle, kept alive.
        await new Promise<void>((resolve) => {
          let seen = "";
          const onData = (chunk: Buffer) => {
            seen += chunk.toString("latin1");
            if (/^HTTP\/1\.1 200/.test(seen) && seen.includes("\r\n\r\n")) {
              socket.off("data", onData);
              resolve();
            }
          };
          socket.on("data", onData);
        });
        return socket;
      }),
    );
    const closed = Promise.all(idle.map((socket) => closedWithin(socket, WELL_AFTER_MS)));

    expect(await servedDuring("connect-json-h1", closed)).toBe("served");
    expect(await servedDuring("grpc", closed)).toBe("served");
    await closed;
  });

  it("500 connections that send nothing do not delay other clients and are closed once idle", async () => {
    const silent = await Promise.all(Array.from({ length: 500 }, connect));
    const closed = Promise.all(silent.map((socket) => closedWithin(socket, WELL_AFTER_MS)));

    expect(await servedDuring("connect-json-h1", closed)).toBe("served");
    await closed;
  });

  it("an idle HTTP/2 session is closed once idle", async () => {
    const session = http2.connect(server.baseUrl);
    session.on("error", () => {});
    await once(session, "remoteSettings");
    const goaway = once(session, "goaway");

    await closedWithin(session, WELL_AFTER_MS);
    await goaway;
  });
});

describe("slow clients (slowloris)", () => {
  /** Writes `text` one byte every 50 ms until it is all sent or the socket is closed. */
  function trickle(socket: net.Socket, text: string): void {
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= text.length) {
        clearInterval(timer);
        return;
      }
      socket.write(text[sent++] as string);
    }, 50);
    socket.once("close", () => clearInterval(timer));
  }

  it("HTTP/1.1 headers trickled byte by byte are cut off at the deadline while others are served", async () => {
    const slow = await connect();
    slow.write("POST /auth.v1.AuthService/GetStatus HTTP/1.1\r\n");
    trickle(slow, `Host: localhost\r\nX-Padding: ${"a".repeat(500)}\r\n\r\n`);
    const closed = closedWithin(slow, WELL_AFTER_MS);

    expect(await servedDuring("connect-json-h1", closed)).toBe("served");
    expect(await closed).toBeGreaterThan(REQUEST_RECEIVE_MS / 2);
  });

  it("an HTTP/1.1 body trickled byte by byte is cut off at the deadline while others are served", async () => {
    const slow = await connect();
    const body = JSON.stringify({ email: `${"a".repeat(200)}@example.com` });
    slow.write(
      "POST /auth.v1.AuthService/GetStatus HTTP/1.1\r\nHost: localhost\r\n" +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    trickle(slow, body);
    const closed = closedWithin(slow, WELL_AFTER_MS);

    expect(await servedDuring("connect-json-h1", closed)).toBe("served");
    expect(await closed).toBeGreaterThan(REQUEST_RECEIVE_MS / 2);
  });

  it("an HTTP/2 request body trickled chunk by chunk has its stream cancelled at the deadline", async () => {
    const session = http2.connect(server.baseUrl);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/auth.v1.AuthService/GetStatus",
      "content-type": "application/json",
    });
    stream.on("error", () => {});
    const timer = setInterval(() => stream.write(" "), 50);
    const start = performance.now();
    try {
      await once(stream, "close");
    } finally {
      clearInterval(timer);
      session.close();
    }
    // Cancelled by the server's receive deadline (node's defaults never cancel a stream that keeps
    // sending), and not before it.
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(performance.now() - start).toBeGreaterThan(REQUEST_RECEIVE_MS / 2);
  });
});

describe("HTTP/2 stream floods", () => {
  /** One HTTP/2 frame. */
  function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head.writeUInt8(type, 3);
    head.writeUInt8(flags, 4);
    head.writeUInt32BE(streamId, 5);
    return Buffer.concat([head, payload]);
  }

  /** A string literal in HPACK (no Huffman; short strings only). */
  const literal = (text: string) => Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]);

  // A gRPC request's headers, HPACK-encoded with the static table and no dynamic state, so the
  // same block serves every stream: POST, http, :path, :authority, content-type, te.
  const grpcHeaders = Buffer.concat([
    Buffer.from([0x83, 0x86, 0x04]),
    literal("/auth.v1.AuthService/GetStatus"),
    Buffer.from([0x01]),
    literal("localhost"),
    Buffer.from([0x0f, 0x10]),
    literal("application/grpc"),
    Buffer.from([0x00]),
    literal("te"),
    literal("trailers"),
  ]);
  const HEADERS = 0x1;
  const RST_STREAM = 0x3;
  const SETTINGS = 0x4;
  const END_HEADERS = 0x4;
  const REFUSED_STREAM = 0x7;

  /** Opens `count` streams at once (headers, never a body) and collects what the server resets. */
  async function flood(count: number) {
    const socket = await connect();
    const frames = [
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      frame(SETTINGS, 0, 0, Buffer.alloc(0)),
    ];
    for (let i = 0; i < count; i++) {
      frames.push(frame(HEADERS, END_HEADERS, 2 * i + 1, grpcHeaders));
    }
    let refused = 0;
    let onRefused = () => {};
    /** Resolves once the server has refused `n` of the streams. */
    const refusals = (n: number) =>
      new Promise<void>((resolve) => {
        onRefused = () => refused >= n && resolve();
        onRefused();
      });
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 9 && received.length >= 9 + received.readUIntBE(0, 3)) {
        const length = received.readUIntBE(0, 3);
        if (received.readUInt8(3) === RST_STREAM && received.readUInt32BE(9) === REFUSED_STREAM) {
          refused++;
          onRefused();
        }
        received = received.subarray(9 + length);
      }
    });
    socket.write(Buffer.concat(frames));
    return { socket, refusals };
  }

  it("streams beyond the concurrency limit are refused while another client is served", async () => {
    const { socket, refusals } = await flood(MAX_STREAMS * 5);

    // Served while the flood's streams are open (they stay open until the socket is destroyed).
    expect(await servedCall("grpc")).toBe("served");
    expect(await servedCall("connect-proto-h2")).toBe("served");
    expect(socket.destroyed).toBe(false);
    // Every stream past the limit; the test times out otherwise.
    await refusals(MAX_STREAMS * 4);
    socket.destroy();
  });
});

describe("with MAX_CONNECTIONS=2", () => {
  it("closes a third connection as it arrives and accepts one again once a connection ends", async () => {
    const limited = await startTestServer({ MAX_CONNECTIONS: "2", SERVICE_TOKENS: SERVICE_TOKEN });
    const open = (): Promise<net.Socket> => {
      const socket = net.connect(limited.port, "127.0.0.1");
      socket.on("error", () => {});
      return once(socket, "connect").then(() => socket);
    };
    try {
      // Held only by connecting: they send nothing, and stay open for the idle allowance. The
      // server accepts connections in the order they arrive, so the third is the one over.
      const first = await open();
      const second = await open();

      const third = await open();
      expect(await closedWithin(third, 1_000)).toBeLessThan(1_000);
      first.destroy();
      // Served again as soon as the server has seen the first one close.
      const client = createAuthClient("connect-json-h1", limited.baseUrl);
      await expect
        .poll(
          () => client.getStatus({ email: EMAIL }, asService).then((r) => r.authenticated, String),
          {
            timeout: 2_000,
          },
        )
        .toBe(false);
      second.destroy();
    } finally {
      await limited.close();
    }
  });
});
