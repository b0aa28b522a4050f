import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { killServices, spawnService, startService } from "../support/service-process.js";

// The real entry point, src/main.ts, as a child process: what a developer runs with `npm start`.

afterEach(killServices);

/** A Connect JSON call with plain fetch, as curl would make it. */
async function call(port: number, method: string, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/auth.v1.AuthService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Rejects after `ms`: for tests whose subject is that something happens promptly. */
function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`${what} took longer than ${ms}ms`)), ms).unref();
  });
}

describe("the service as a process", () => {
  it("lets a newcomer log in with the code printed on the console", async () => {
    // Asking by email with no service token, as seed A did, needs STATUS_BY_EMAIL=open.
    const { service, port } = await startService({ STATUS_BY_EMAIL: "open" });
    await service.log({ msg: "status by email is open", level: "warn" });
    const email = "newcomer@example.com";

    expect(await call(port, "GetStatus", { email })).toEqual({ status: 200, json: {} });
    const requested = await call(port, "RequestOtp", { email });
    expect(requested.status).toBe(200);
    expect(requested.json).toMatchObject({ ttl: "300s", remainingRequests: 2, codeLength: 6 });

    const [, code, id, expires] = await service.line(
      /otp: (\d{6}) for newcomer@example\.com \(purpose login, id (\S+), expires (\S+)\)/,
    );
    expect(id).toBe(requested.json.otpId);
    expect(Date.parse(expires as string)).toBe(Date.parse(requested.json.expiresAt as string));

    const verified = await call(port, "VerifyOtp", { email, otp: code });
    expect(verified.status).toBe(200);
    expect(verified.json.authenticated).toBe(true);

    // GetStatus also answers a Connect GET, as a browser or `curl URL` would send it.
    const message = encodeURIComponent(JSON.stringify({ email }));
    const status = await fetch(
      `http://127.0.0.1:${port}/auth.v1.AuthService/GetStatus?encoding=json&message=${message}`,
    );
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({
      authenticated: true,
      authenticatedAt: verified.json.authenticatedAt,
    });
    // The console line is the only place the code is written.
    expect(service.stdout().split(code as string)).toHaveLength(2);
    expect(service.stderr()).not.toContain(code);
  });

  it.each([
    ["OTP_TTL", "5x"],
    ["OTP_LENGTH", "3"],
    ["OTP_LENGTH", "11"],
    ["OTP_REQUEST_LIMIT", "abc"],
    ["OTP_IP_REQUEST_LIMIT", "3"],
    ["PORT", "70000"],
    ["TRUST_PROXY", "not-an-ip"],
    ["STORAGE", "redis"],
    ["SESSION_TTL", "0s"],
    ["OTP_SENDER", "sms"],
    ["STATUS_BY_EMAIL", "yes"],
  ])("refuses to start with %s=%s and says which variable is wrong", async (variable, value) => {
    const service = spawnService({ [variable]: value });

    const exit = await service.exited;

    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(service.stderr()).toContain(variable);
    expect(service.stdout()).not.toContain("listening");
  });

  it("refuses a bad STATUS_BY_EMAIL saying what it accepts", async () => {
    const service = spawnService({ STATUS_BY_EMAIL: "public" });

    expect((await service.exited).code).toBe(2);
    expect(service.stderr()).toMatch(
      /^otp-auth: cannot start: STATUS_BY_EMAIL="public" is not valid: expected closed .* or open /,
    );
  });

  it("refuses a short OTP_HMAC_KEY without printing the key", async () => {
    const key = "short-secret-9";
    const service = spawnService({ OTP_HMAC_KEY: key });

    const exit = await service.exited;

    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(service.stderr()).toContain("OTP_HMAC_KEY");
    expect(service.stderr() + service.stdout()).not.toContain(key);
  });

  it("accepts OTP_IP_REQUEST_LIMIT=off and then limits no client address", async () => {
    const { port } = await startService({ OTP_IP_REQUEST_LIMIT: "off" });

    // One more than the default per-IP limit of 8.
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) {
      statuses.push((await call(port, "RequestOtp", { email: `off-${i}@example.com` })).status);
    }

    expect(statuses).toEqual(Array(9).fill(200));
  });

  it.each(["SIGTERM", "SIGINT"] as const)("exits with code 0 promptly on %s", async (signal) => {
    const { service } = await startService();

    service.child.kill(signal);

    expect(await Promise.race([service.exited, deadline(3_000, `exiting on ${signal}`)])).toEqual({
      code: 0,
      signal: null,
    });
  });

  it("finishes a request in flight when SIGTERM arrives, then exits with code 0", async () => {
    const { service, port } = await startService();
    const body = JSON.stringify({ email: "in-flight@example.com" });
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    const received = collect(socket);

    // With Expect: 100-continue the server answers "100 Continue" once it has read the headers and
    // handed the request to the service: from then on the request is in flight.
    socket.write(
      [
        "POST /auth.v1.AuthService/RequestOtp HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Expect: 100-continue",
        "",
        "",
      ].join("\r\n"),
    );
    await received.until((text) => text.startsWith("HTTP/1.1 100 Continue\r\n\r\n"));
    socket.write(body.slice(0, 10));
    service.child.kill("SIGTERM");
    await service.log({ msg: "shutting down", signal: "SIGTERM" });
    socket.write(body.slice(10));

    const text = await received.until(isCompleteResponse);
    const final = text.slice(text.indexOf("\r\n\r\n") + 4);
    expect(final).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(JSON.parse(final.slice(final.indexOf("\r\n\r\n") + 4))).toMatchObject({
      remainingRequests: 2,
      codeLength: 6,
    });
    await service.line(/otp: \d{6} for in-flight@example\.com .*/);
    expect(
      await Promise.race([service.exited, deadline(5_000, "exiting after the request")]),
    ).toEqual({ code: 0, signal: null });
  });
});

/** Accumulates what `socket` receives; `until` resolves once the text so far satisfies `done`. */
function collect(socket: Socket) {
  let text = "";
  const watchers = new Set<() => void>();
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    text += chunk;
    for (const watcher of watchers) {
      watcher();
    }
  });
  return {
    until(done: (text: string) => boolean): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (done(text)) {
            watchers.delete(check);
            resolve(text);
          }
        };
        socket.once("close", () => reject(new Error(`connection closed after:\n${text}`)));
        watchers.add(check);
        check();
      });
    },
  };
}

/** A 100 Continue followed by a whole final response (headers and Content-Length bytes of body). */
function isCompleteResponse(text: string): boolean {
  const final = text.slice(text.indexOf("\r\n\r\n") + 4);
  const headerEnd = final.indexOf("\r\n\r\n");
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(final.slice(0, headerEnd + 2));
  return (
    headerEnd >= 0 &&
    length !== null &&
    Buffer.byteLength(final.slice(headerEnd + 4)) >= Number(length[1])
  );
}
