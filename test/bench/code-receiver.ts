// Where the service's webhook sender delivers codes during the login-flow benchmark: a node:http
// server in the load generator's process, which learns each code by its otp id. (The signature is
// not checked: the receiver is on loopback and the benchmark is about the service's cost.)

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface CodeReceiver {
  readonly url: string;
  /** The code delivered for `otpId`, and forgets it; undefined if none arrived. */
  take(otpId: string): string | undefined;
  close(): Promise<void>;
}

export async function startCodeReceiver(): Promise<CodeReceiver> {
  const codes = new Map<string, string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        otpId: string;
        code: string;
      };
      codes.set(body.otpId, body.code);
      res.end("ok");
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/otp`,
    take(otpId) {
      const code = codes.get(otpId);
      codes.delete(otpId);
      return code;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
