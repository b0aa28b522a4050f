import { create } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { VerifyOtpRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import {
  createAuthClient,
  createGrpcJsClient,
  type Protocol,
  protocols,
  rejection,
} from "../support/clients.js";
import { http1Request } from "../support/raw-requests.js";
import { codeFromConsole, killServices, startService } from "../support/service-process.js";
import { startSmtpReceiver } from "../support/smtp-receiver.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

const REQUEST_OTP = "auth.v1.AuthService/RequestOtp";
const VERIFY_OTP = "auth.v1.AuthService/VerifyOtp";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const WEBHOOK_SECRET = "webhook-secret-of-at-least-32-characters";

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  killServices();
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function server(env: Record<string, string> = {}, options = {}): Promise<TestServer> {
  const started = await startTestServer(env, options);
  cleanups.push(() => started.close());
  return started;
}

/** The "rpc" entries logged for `requestId`. */
function rpcLines(logs: Record<string, unknown>[], requestId: string) {
  return logs.filter((entry) => entry.msg === "rpc" && entry.requestId === requestId);
}

const protocolNames: Record<Protocol, string> = {
  "connect-json-h1": "connect",
  "connect-proto-h2": "connect",
  grpc: "grpc",
  "grpc-web": "grpc-web",
};

describe("one log line per RPC", () => {
  it.each<Protocol>(protocols)(
    "over %s: method, code, duration, protocol, client IP, masked email and the caller's request id, echoed",
    async (protocol) => {
      const s = await server();
      const client = createAuthClient(protocol, s.baseUrl);
      let echoed: string | null = null;

      await client.requestOtp(
        { email: " Ada.Lovelace@Example.com " },
        {
          headers: { "x-request-id": `trace-${protocol}` },
          onHeader: (header) => {
            echoed = header.get("x-request-id");
          },
        },
      );

      expect(echoed).toBe(`trace-${protocol}`);
      const lines = rpcLines(s.logs, `trace-${protocol}`);
      expect(lines).toHaveLength(1);
      const [line] = lines;
      expect(line).toMatchObject({
        level: "info",
        name: "otp-auth",
        method: REQUEST_OTP,
        code: "OK",
        protocol: protocolNames[protocol],
        clientIp: "127.0.0.1",
        email: "a***@example.com",
      });
      expect(line).not.toHaveProperty("reason");
      expect(line?.durationMs).toBeTypeOf("number");
      expect(line?.durationMs).toBeGreaterThan(0);
      expect(Date.parse(String(line?.time))).not.toBeNaN();
      const code = s.sender.lastCodeFor("ada.lovelace@example.com");
      expect(JSON.stringify(s.logs)).not.toContain(code);
      expect(JSON.stringify(s.logs)).not.toContain("lovelace");
    },
  );

  it("names the ErrorInfo reason of a refusal, and echoes the id in gRPC header metadata", async () => {
    const s = await server();
    const client = createGrpcJsClient(s.port);
    cleanups.push(() => client.close());
    const metadata = new Metadata();
    metadata.set("x-request-id", "grpc-js-1");

    const header = await new Promise<Metadata>((resolve) => {
      const call = client.VerifyOtp?.(
        create(VerifyOtpRequestSchema, { email: "nobody@example.com", otp: "123456" }),
        metadata,
        () => {},
      );
      call?.on("metadata", resolve);
    });

    expect(header.get("x-request-id")).toEqual(["grpc-js-1"]);
    expect(rpcLines(s.logs, "grpc-js-1")).toEqual([
      expect.objectContaining({
        level: "info",
        method: VERIFY_OTP,
        code: "NOT_FOUND",
        reason: "OTP_NOT_FOUND",
        protocol: "grpc",
        email: "n***@example.com",
      }),
    ]);
  });

  it.each([
    ["no", undefined],
    ["an empty", ""],
    ["a too long", "x".repeat(129)],
    ["a non-ASCII", "trace-é"],
    ["a spaced", "two words"],
  ])("gives a call with %s x-request-id a new id, and echoes that", async (_what, sent) => {
    const s = await server();
    const response = await fetch(`${s.baseUrl}/${VERIFY_OTP}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(sent === undefined ? {} : { "x-request-id": sent }),
      },
      body: JSON.stringify({ email: "ada@example.com", otp: "123456" }),
    });

    const id = response.headers.get("x-request-id");
    expect(id).toMatch(UUID);
    expect(rpcLines(s.logs, id as string)).toHaveLength(1);
  });

  it("keeps a 128-character visible ASCII id as it is", async () => {
    const s = await server();
    const id = `${"a".repeat(64)}!~/+=${"Z".repeat(59)}`;
    const response = await fetch(`${s.baseUrl}/${VERIFY_OTP}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": id },
      body: JSON.stringify({ email: "ada@example.com", otp: "123456" }),
    });

    expect(id).toHaveLength(128);
    expect(response.headers.get("x-request-id")).toBe(id);
    expect(rpcLines(s.logs, id)).toHaveLength(1);
  });

  it("logs and echoes a body refused before any handler ran", async () => {
    const s = await server();

    const res = await http1Request(s.port, {
      path: `/${REQUEST_OTP}`,
      headers: { "content-type": "application/json", "x-request-id": "bad-body" },
      body: '{"email":',
    });

    expect(res.status).toBe(400);
    expect(res.headers.get("x-request-id")).toBe("bad-body");
    expect(rpcLines(s.logs, "bad-body")).toEqual([
      expect.objectContaining({
        method: REQUEST_OTP,
        code: "INVALID_ARGUMENT",
        reason: "INVALID_ARGUMENT",
        protocol: "connect",
      }),
    ]);
  });

  it("carries the request id into what the call logs elsewhere: a failed delivery", async () => {
    let s: TestServer | undefined;
    // The receiver checks signatures against the server's (fake) clock.
    const hook = await startWebhookReceiver({
      secret: WEBHOOK_SECRET,
      now: () => s?.clock.now() ?? 0,
    });
    cleanups.push(() => hook.close());
    hook.answer({ kind: "status", status: 503 });
    s = await server(
      {
        OTP_SENDER: "webhook",
        OTP_WEBHOOK_URL: hook.url,
        OTP_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
      { realSender: true },
    );
    const client = createAuthClient("connect-json-h1", s.baseUrl);

    await rejection(
      client.requestOtp({ email: "ada@example.com" }, { headers: { "x-request-id": "req-7" } }),
    );

    const delivery = await hook.nextDelivery();
    const lines = s.logs.filter((entry) => entry.requestId === "req-7");
    expect(lines).toEqual([
      expect.objectContaining({
        level: "error",
        msg: "delivery failed",
        otpId: delivery.json.otpId,
        reason: expect.stringContaining("503"),
      }),
      expect.objectContaining({
        level: "warn",
        msg: "rpc",
        code: "UNAVAILABLE",
        reason: "DELIVERY_FAILED",
        email: "a***@example.com",
      }),
    ]);
    expect(JSON.stringify(s.logs)).not.toContain(delivery.json.code);
  });

  it("masks the recipient an SMTP refusal names, even with a comma in its local part", async () => {
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    smtp.answer({ kind: "refuse" });
    const s = await server(
      { OTP_SENDER: "smtp", SMTP_URL: smtp.url, OTP_MAIL_FROM: "codes@example.com" },
      { realSender: true },
    );
    const client = createAuthClient("connect-json-h1", s.baseUrl);

    await rejection(
      client.requestOtp({ email: "Ada,Eve@example.com" }, { headers: { "x-request-id": "rcpt" } }),
    );

    const failed = s.logs.find((entry) => entry.msg === "delivery failed");
    // The server quoted the local part ("ada,eve"@example.com) and named it in its reply.
    expect(failed?.reason).toMatch(/550 5\.1\.1 <\*\*\*@example\.com>: Recipient address rejected/);
    const written = JSON.stringify(s.logs).toLowerCase();
    expect(written).not.toContain("ada,eve");
    expect(written).not.toContain("eve@example.com");
  });

  it("writes nothing below LOG_LEVEL", async () => {
    const s = await server({ LOG_LEVEL: "warn" });
    const client = createAuthClient("grpc", s.baseUrl);
    await client.requestOtp({ email: "ada@example.com" }, { headers: { "x-request-id": "ok" } });
    s.sender.fail(new Error("no route to the mail server"));
    await rejection(
      client.requestOtp({ email: "bob@example.com" }, { headers: { "x-request-id": "failed" } }),
    );

    expect(rpcLines(s.logs, "ok")).toEqual([]);
    expect(rpcLines(s.logs, "failed")).toEqual([
      expect.objectContaining({ level: "warn", code: "UNAVAILABLE" }),
    ]);
    expect(s.logs.every((entry) => entry.level === "warn" || entry.level === "error")).toBe(true);
  });
});

describe("the service process's output", () => {
  it("is JSON log lines besides the listening line and the console sender's, and only the latter holds a code", async () => {
    const { service, port } = await startService();
    const call = (method: string, body: unknown, requestId: string) =>
      fetch(`http://127.0.0.1:${port}/auth.v1.AuthService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": requestId },
        body: JSON.stringify(body),
      });
    const email = "Grace.Hopper@example.com";

    const requested = await call("RequestOtp", { email }, "one");
    const { otpId } = (await requested.json()) as { otpId: string };
    const code = await codeFromConsole(service, otpId);
    const wrong = code === "000000" ? "000001" : "000000";
    await call("VerifyOtp", { email, otp: wrong }, "two");
    const verified = await call("VerifyOtp", { email, otp: code }, "three");
    service.child.kill("SIGTERM");
    expect(await service.exited).toEqual({ code: 0, signal: null });

    expect(requested.headers.get("x-request-id")).toBe("one");
    expect(verified.headers.get("x-request-id")).toBe("three");
    const lines = service.stdout().trimEnd().split("\n");
    const plain = lines.filter((line) => !line.startsWith("{"));
    expect(plain).toEqual([
      expect.stringMatching(/^otp-auth grpc-js listening on 127\.0\.0\.1:\d+ \(gRPC only\)$/),
      expect.stringMatching(/^otp-auth listening on 127\.0\.0\.1:\d+ \(.*\)$/),
      expect.stringMatching(new RegExp(`^otp: ${code} for grace\\.hopper@example\\.com \\(`)),
    ]);
    expect(lines.filter((line) => line.includes(code))).toEqual([plain[2]]);
    const outsideCodes = lines.filter((line) => !line.startsWith("otp: "));
    expect(outsideCodes.filter((line) => /grace\.hopper/i.test(line))).toEqual([]);
    const logs = service.logs();
    expect(logs.map((entry) => entry.msg)).toEqual([
      "ephemeral signing key",
      "listening",
      "rpc",
      "rpc",
      "rpc",
      "shutting down",
      "stopped",
    ]);
    expect(logs.filter((entry) => entry.msg === "rpc")).toEqual([
      expect.objectContaining({ requestId: "one", method: REQUEST_OTP, code: "OK" }),
      expect.objectContaining({
        requestId: "two",
        method: VERIFY_OTP,
        code: "UNAUTHENTICATED",
        reason: "OTP_MISMATCH",
      }),
      expect.objectContaining({ requestId: "three", method: VERIFY_OTP, code: "OK" }),
    ]);
    for (const entry of logs.filter((entry) => entry.msg === "rpc")) {
      expect(entry).toMatchObject({
        level: "info",
        email: "g***@example.com",
        protocol: "connect",
        clientIp: "127.0.0.1",
      });
    }
    expect(logs[0]).toMatchObject({ level: "warn", kid: expect.stringMatching(/^ephemeral-/) });
    expect(logs[1]).toMatchObject({ level: "info", port, storage: "memory" });
    expect(service.stderr()).toBe("");
  });

  it("with LOG_LEVEL=silent is only the listening line and the codes", async () => {
    const { service, port } = await startService({ LOG_LEVEL: "silent" });

    const requested = await fetch(`http://127.0.0.1:${port}/auth.v1.AuthService/RequestOtp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ada@example.com" }),
    });
    const { otpId } = (await requested.json()) as { otpId: string };
    await codeFromConsole(service, otpId);
    service.child.kill("SIGTERM");
    expect(await service.exited).toEqual({ code: 0, signal: null });

    expect(service.stdout().trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^otp-auth grpc-js listening on /),
      expect.stringMatching(/^otp-auth listening on /),
      expect.stringMatching(/^otp: \d{6} for ada@example\.com /),
    ]);
  });
});
