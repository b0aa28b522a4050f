import type * as net from "node:net";

// Every HTTP/2 connection starts with this preface; nothing in HTTP/1.1 does.
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Reads until the first bytes tell HTTP/2 from HTTP/1.x, puts them back, and hands over the socket
 * paused, so the chosen server reads the connection from its first byte. A connection that sends
 * nothing for `idleMs` is destroyed.
 */
export function sniffHttpVersion(
  socket: net.Socket,
  idleMs: number,
  route: (isHttp2: boolean) => void,
): void {
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
